"""A project's releases: per release its new and regressed groups, reports, crash-affected and
active installations, crash-free rate and adoption over time; and two releases compared.

Aggregates only (``dashboard/releases/queries.py``; installation counts k-anonymous). The
comparison is chosen in a GET form, so its URL (``?a=R1&b=R2``) can be shared; ``a`` and ``b``
must name releases listed on the page (anything else is a 400 naming the parameter, never
echoing it). Active installations and the crash-free rate come from adoption pings
(``[adoption]`` in the policy); they are shown to the roles ``adoption.access`` names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.errors import BadQueryParameter, NotFound
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, render
from crashveil.server.dashboard.releases.chart import adoption_chart
from crashveil.server.dashboard.releases.queries import (
    WINDOW_DAYS,
    Comparison,
    ReleaseHealth,
    compare_releases,
    release_health,
)

__all__ = ["releases"]

_PARAMS = ("a", "b")
_SAFE_NAME = re.compile(r"^[a-z_]{1,20}$")


@dataclass(frozen=True)
class _Choice:
    """The comparison asked for in the URL: both releases, or neither."""

    a: str | None
    b: str | None


def _choice(params: Mapping[str, str], counts: Mapping[str, int]) -> _Choice:
    """``a`` and ``b`` of the query (both or none; different); 400 naming a bad parameter."""
    for name in params:
        if name not in _PARAMS:
            shown = name if _SAFE_NAME.match(name) else "(a parameter name)"
            raise BadQueryParameter(shown, "a known parameter: a, b")
    for name in _PARAMS:
        if counts.get(name, 0) > 1:
            raise BadQueryParameter(name, "one value")
    a, b = params.get("a") or None, params.get("b") or None
    if (a is None) != (b is None):
        raise BadQueryParameter("b" if a else "a", "a release to compare with (both A and B)")
    if a is not None and a == b:
        raise BadQueryParameter("b", "a release other than A")
    return _Choice(a, b)


def _load(ctx: DashboardContext, project_id: str, choice: _Choice, held: frozenset[str],
          moment: datetime) -> dict[str, object]:
    project = ctx.storage.project(project_id)
    if project is None:
        raise NotFound
    policy = project.policy
    min_k = policy.aggregation.min_k
    adoption_visible = policy.adoption is not None and bool(held & set(policy.adoption.access))
    comparison: Comparison | None = None
    with ctx.engine.connect() as conn:
        rows: list[ReleaseHealth] = release_health(conn, project_id, now=moment, min_k=min_k)
        listed = {row.release for row in rows}
        if choice.a is not None and choice.b is not None:
            for name, value in (("a", choice.a), ("b", choice.b)):
                if value not in listed:
                    raise BadQueryParameter(name, "a release listed on this page")
            comparison = compare_releases(conn, project_id, choice.a, choice.b, now=moment, min_k=min_k)
    return dict(rows=rows, comparison=comparison, min_k=min_k, adoption_visible=adoption_visible,
                window_days=WINDOW_DAYS, adopted=[row for row in rows if row.has_adoption][:6])


async def releases(ctx: DashboardContext, visit: Visit) -> Response:
    project_id = visit.param("project")
    params = visit.request.query_params
    names = [name for name, _ in params.multi_items()]
    try:
        choice = _choice(params, {name: names.count(name) for name in set(names)})
        data = await run_in_threadpool(_load, ctx, project_id, choice, visit.held, ctx.now())
    except BadQueryParameter as exc:
        return render(ctx, visit.session, "error.html", 400, title="Bad comparison", message=str(exc))
    return render(ctx, visit.session, "releases.html", title=f"Releases · {project_id}", project_id=project_id,
                  choice=choice, chart=adoption_chart, **data)
