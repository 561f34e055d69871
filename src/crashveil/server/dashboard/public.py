"""The public summary of a project (HTML and JSON) and the page explaining it to end users.

Off unless the project enables it (``projects.public_summary``); a project that has not is a
404, the same as one that does not exist. Every number comes from a stored differentially
private release (``window_releases.publish_window``): one per finished window of
``aggregation.window_days`` UTC days, computed once and served as stored. A window the
yearly privacy budget does not allow is shown as "budget exhausted until DATE" and publishes
nothing. No report content, no pseudonyms, no exact small counts. Groups appear under their
number only; their titles (exception names) stay on the dashboard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from crashveil.server.dashboard.headers import SecurityHeaders
from crashveil.server.dashboard.templating import templates
from crashveil.server.dashboard.unavailable import Unavailable, unavailable_page
from crashveil.server.insights import plots
from crashveil.server.insights.window_releases import WindowState, budget_of, public_summary_json, public_windows
from crashveil.server.storage.reading import ProjectReader
from crashveil.server.storage.records import ProjectRecord

__all__ = ["public_routes", "SPAN_DAYS"]

#: Days of finished windows shown (8 weekly windows, 56 daily ones).
SPAN_DAYS = 56
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def public_routes(storage: ProjectReader, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  span_days: int = SPAN_DAYS) -> list[BaseRoute]:
    """Routes under ``/public``: ``/{project}``, ``/{project}/summary.json``, ``/{project}/plot.svg``, ``/about``."""
    env = templates()

    def releases(project_id: str) -> tuple[ProjectRecord, list[WindowState]] | None:
        if not _PROJECT_RE.match(project_id):
            return None
        project = storage.project(project_id)
        if project is None or not project.public_summary:
            return None
        agg = project.policy.aggregation
        count = max(2, span_days // agg.publication_window_days)
        return project, public_windows(storage.engine, project_id, agg, count=count, now=now())

    def missing(request: Request) -> Response:
        return HTMLResponse(env.get_template("public_missing.html").render(title="No public summary"), status_code=404)

    async def summary(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return missing(request)
        project, windows = found
        released = [w.release for w in windows if w.release is not None]
        groups = sorted({g for r in released for g in r.groups})
        platforms = sorted({p for r in released for p in r.platforms})
        exhausted = max((w.exhausted_until for w in windows if w.exhausted_until is not None), default=None)
        return HTMLResponse(env.get_template("public.html").render(
            title=f"Crash summary · {project.id}", project=project, windows=windows, groups=groups,
            platforms=platforms, aggregation=project.policy.aggregation, budget=budget_of(project.policy.aggregation),
            exhausted_until=exhausted))

    async def summary_json(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return JSONResponse({"error": "not_found", "field": None, "message": "no public summary"}, status_code=404)
        project, windows = found
        return JSONResponse(public_summary_json(project.id, project.policy.aggregation, windows))

    async def plot(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return missing(request)
        _, windows = found
        points = [(datetime.combine(w.start, datetime.min.time(), tzinfo=UTC), sum(w.release.groups.values()))
                  for w in windows if w.release is not None]
        body = plots.time_series_svg(points, title="Installations that crashed per window (noised, published "
                                     "groups)", y_unit="installations per window", x_unit="window start (UTC)")
        return Response(body, media_type="image/svg+xml")

    async def about(request: Request) -> Response:
        return HTMLResponse(env.get_template("public_about.html").render(title="How these numbers protect you"))

    router = Router(routes=[
        Route("/about", about),
        Route("/{project}", summary),
        Route("/{project}/summary.json", summary_json),
        Route("/{project}/plot.svg", plot),
    ])
    return [Mount("/public", app=SecurityHeaders(Unavailable(router, unavailable_page(env))))]
