"""A project's releases through the API: the dashboard's releases page as JSON (``groups:read``).

Rows come from the page's own function (``dashboard.releases.queries.release_health``) in
the page's order, so numbers and suppression are the page's: installation counts below the
policy's ``min_k`` are ``null``, a rate made of such counts is ``null`` with
``rate_hidden``, and active installations, the crash-free rate and adoption are given only
to roles the policy's ``adoption.access`` names (else ``null``, ``adoption_visible``
false), as the page says "not shown to your role".

Pages: the cursor holds the last release shown and its position; the next page resumes
after that release in the current order (after the position if it has left the order).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import NotVisible
from crashveil.server.api.auth import authenticate, project_roles, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import Page, check_names, decode_cursor, encode_cursor, json_answer, limit_param
from crashveil.server.dashboard.releases.queries import (
    MAX_RELEASES,
    WINDOW_DAYS,
    ReleaseHealth,
    release_health,
    release_order,
    window_days,
)

__all__ = ["list_releases", "release_json"]

DEFAULT_LIMIT = 10


def release_json(row: ReleaseHealth, adoption_visible: bool) -> dict[str, Any]:
    """One release's row; adoption numbers only where the roles may see them."""
    return {"release": row.release, "new_groups": row.new_groups, "regressed_groups": row.regressed_groups,
            "reports": row.reports, "crashed_installs": row.crashed_installs,
            "has_adoption": row.has_adoption if adoption_visible else None,
            "active_installs": row.active_installs if adoption_visible else None,
            "crash_free": row.crash_free if adoption_visible else None,
            "rate_hidden": row.rate_hidden if adoption_visible else None,
            "adoption": [{"day": d.day, "installs": d.installs} for d in row.adoption] if adoption_visible else None}


def _start(order: list[str], cursor: str | None) -> int:
    if cursor is None:
        return 0
    last, position = decode_cursor(cursor, "releases", (str, int))
    return order.index(last) + 1 if last in order else position


async def list_releases(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/releases: release health, the releases page's rows in its order."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "groups:read")
    check_names(request, ("limit", "cursor"))
    limit = limit_param(request, DEFAULT_LIMIT, MAX_RELEASES)
    cursor = request.query_params.get("cursor")
    project_id = request.path_params["project"]
    roles = project_roles(caller, project_id)
    moment = ctx.now()

    def load() -> Page:
        project = ctx.storage.project(project_id)
        if project is None:
            raise NotVisible("no such project")
        policy = project.policy
        visible = policy.adoption is not None and bool(roles & set(policy.adoption.access))
        with ctx.storage.engine.connect() as conn:
            order = release_order(conn, project_id, window_days(moment)[0])
            start = _start(order, cursor)
            chosen = order[start:start + limit]
            rows = release_health(conn, project_id, now=moment, min_k=policy.aggregation.min_k,
                                  releases=chosen) if chosen else []
        more = start + limit < len(order)
        following = encode_cursor("releases", [chosen[-1], start + len(chosen)]) if more and chosen else None
        return Page("releases", [release_json(r, visible) for r in rows], following)

    page = await run_in_threadpool(load)
    body = {**page.body(), "window_days": WINDOW_DAYS}
    return json_answer(request, body, link=page.link(f"/api/v1/projects/{project_id}/releases",
                                                     {"limit": str(limit)}))
