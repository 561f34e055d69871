"""Projects through the API: the list a token reaches, one project, and its public summary.

The list and the detail need a token and no scope (a token sees the projects its roles
reach; another project is 404, as in the dashboard). The public summary needs no token at
all: it is the public page's data (``/public/{project}/summary.json``, the same stored
differentially private windows over the same ``SPAN_DAYS``), behind the same switch
(``projects.public_summary``): a project that has not enabled it is 404, exactly like one
that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import NotVisible
from crashveil.server.api.auth import authenticate
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import Page, check_names, decode_cursor, encode_cursor, json_answer, limit_param
from crashveil.server.dashboard.public import SPAN_DAYS
from crashveil.server.governance.principals import Principal
from crashveil.server.insights.window_releases import public_summary_json, public_windows
from crashveil.server.storage.records import ProjectSummary

__all__ = ["get_project", "get_public_summary", "list_projects"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PROJECT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _project_json(project: ProjectSummary, principal: Principal) -> dict[str, Any]:
    return {"id": project.id, "created_at": _time(project.created_at), "policy_version": project.policy_version,
            "public_summary": project.public_summary, "roles": sorted(principal.roles_in(project.id))}


async def list_projects(ctx: ApiContext, request: Request) -> Response:
    """GET /projects: the projects the token's roles reach, by id, in pages."""
    caller = await authenticate(request, ctx.access)
    check_names(request, ("limit", "cursor"))
    limit = limit_param(request, DEFAULT_LIMIT, MAX_LIMIT)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, "projects", (str,))[0] if cursor is not None else ""
    principal = caller.principal
    listed = await run_in_threadpool(ctx.storage.list_projects)
    reached = sorted((p for p in listed if principal.roles_in(p.id) and p.id > after), key=lambda p: p.id)
    shown = reached[:limit]
    following = encode_cursor("projects", [shown[-1].id]) if len(reached) > limit else None
    page = Page("projects", [_project_json(p, principal) for p in shown], following)
    return json_answer(request, page.body(), link=page.link("/api/v1/projects", {"limit": str(limit)}))


def _valid_id(project_id: str) -> bool:
    return 0 < len(project_id) <= 63 and set(project_id) <= _PROJECT_CHARS and project_id[0] != "-"


async def get_project(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}: one project the token reaches, with its group count and ``min_k``."""
    caller = await authenticate(request, ctx.access)
    check_names(request, ())
    project_id = request.path_params["project"]
    principal = caller.principal
    if not _valid_id(project_id) or not principal.roles_in(project_id):
        raise NotVisible("no such project")

    def load() -> dict[str, Any]:
        found = [p for p in ctx.storage.list_projects() if p.id == project_id]
        record = ctx.storage.project(project_id)
        if not found or record is None:
            raise NotVisible("no such project")
        return {**_project_json(found[0], principal), "groups": found[0].groups,
                "min_k": record.policy.aggregation.min_k}

    return json_answer(request, await run_in_threadpool(load))


async def get_public_summary(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/public-summary: the public page's numbers; no token, same switch."""
    check_names(request, ())
    project_id = request.path_params["project"]
    if not _valid_id(project_id):
        raise NotVisible("no public summary")

    def load() -> dict[str, Any]:
        project = ctx.storage.project(project_id)
        if project is None or not project.public_summary:
            raise NotVisible("no public summary")
        agg = project.policy.aggregation
        count = max(2, SPAN_DAYS // agg.publication_window_days)
        windows = public_windows(ctx.storage.engine, project_id, agg, count=count, now=ctx.now())
        return public_summary_json(project.id, agg, windows)

    return json_answer(request, await run_in_threadpool(load))
