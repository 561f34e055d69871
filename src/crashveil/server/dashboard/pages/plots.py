"""The SVG plots of the project and group pages (``insights.plots``), served as images.

Kinds: ``trend`` (per hour, 7 days, anomalies marked) and ``spark`` (per day, 14 days) for a
project or a group; ``releases`` and ``os`` (bars, 30 days) for a group only, each to roles
the policy lets see its field (``release``, ``environment``), as on the group page
(``dashboard.triage.group_view``, which draws them inline).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.errors import NotFound
from crashveil.server.dashboard import queries as q
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit
from crashveil.server.governance.principals import visible_fields
from crashveil.server.insights import plots
from crashveil.server.insights.anomaly import AnomalySettings, score_series

__all__ = ["plot"]


def _series_svg(conn: Connection, project_id: str, group_id: int | None, kind: str, moment: datetime,
                anomaly: AnomalySettings) -> str:
    hours = 168 if kind == "trend" else 14 * 24
    hourly = q.hourly_series(conn, project_id=project_id, group_id=group_id, now=moment, hours=hours)
    if kind == "spark":
        return plots.sparkline_svg([n for _, n in q.daily_series(hourly)], unit="reports/day")
    marks = [q.parse_hour(s.hour) for s in score_series(hourly, anomaly) if s.anomalous]
    points = [(q.parse_hour(h), n) for h, n in hourly]
    title = "Reports per hour, last 7 days" + ("" if group_id else f" · project {project_id}")
    return plots.time_series_svg(points, title=title, y_unit="reports per hour", marks=marks)


def _bars_svg(conn: Connection, group_id: int, kind: str, moment: datetime) -> str:
    since = q.hour_key(moment - timedelta(days=30))
    column = "release" if kind == "releases" else "os_family"
    items = q.distribution(conn, group_id, column, since=since)
    title = "By release, last 30 days" if kind == "releases" else "By OS family, last 30 days"
    return plots.bar_chart_svg(items, title=title, x_unit="reports")


def _draw(ctx: DashboardContext, project_id: str, group_id: int | None, kind: str, moment: datetime) -> str:
    with ctx.engine.connect() as conn:
        if group_id is not None and q.group_row(conn, project_id, group_id) is None:
            raise NotFound
        if kind in ("trend", "spark"):
            return _series_svg(conn, project_id, group_id, kind, moment, ctx.anomaly)
        if kind in ("releases", "os") and group_id is not None:
            return _bars_svg(conn, group_id, kind, moment)
    raise NotFound


#: The policy field a group bar chart shows.
_BAR_FIELDS = {"releases": "release", "os": "environment"}


def _allowed(ctx: DashboardContext, project_id: str, kind: str, roles: frozenset[str]) -> bool:
    field = _BAR_FIELDS.get(kind)
    if field is None:
        return True
    project = ctx.storage.project(project_id)
    return project is not None and field in visible_fields(project.policy, roles)


async def plot(ctx: DashboardContext, visit: Visit) -> Response:
    group_id: int | None = visit.request.path_params.get("group")
    if not await run_in_threadpool(_allowed, ctx, visit.param("project"), visit.param("kind"), visit.held):
        raise NotFound
    body = await run_in_threadpool(_draw, ctx, visit.param("project"), group_id, visit.param("kind"), ctx.now())
    return Response(body, media_type="image/svg+xml", headers={"cache-control": "private, max-age=60"})
