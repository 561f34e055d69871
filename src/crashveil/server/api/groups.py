"""Crash groups through the API: the list (the dashboard's filters and keyset), one group
(with an ETag), and changing a group's status or assignee.

Titles are cut by the token's roles exactly as the dashboard cuts them
(``dashboard.triage.titles``): the message template and culprit appear only for roles the
policy lets read them. Installation counts below the policy's ``min_k`` are ``null``.
Status and assignee changes go through the dashboard's own functions, so they write the
same history row and the same audit entry, with the token's user as the actor; the token's
use is one more audit entry (``token.use``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import BadApiInput, NotVisible
from crashveil.server.api.auth import authenticate, project_roles, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import etag_of, if_match, json_answer
from crashveil.server.dashboard import queries as q
from crashveil.server.dashboard.pages import assign as assign_page, groups as groups_page
from crashveil.server.dashboard.roles import STATUS_ROLES
from crashveil.server.dashboard.triage.listing import ListedGroup, list_page
from crashveil.server.dashboard.triage.params import parse_query
from crashveil.server.dashboard.triage.titles import TitleRules, shown_message, title_rules
from crashveil.server.governance.access import ApiCaller
from crashveil.server.insights.aggregates import k_visible
from crashveil.server.storage.records import ProjectRecord

__all__ = ["get_group", "list_groups", "update_group"]

#: Statuses a PATCH may set (``regressed`` is set by ingest only).
SETTABLE = ("open", "resolved", "ignored")
_MAX_RELEASE = 128
_MAX_BODY = 4096


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _project(ctx: ApiContext, project_id: str) -> ProjectRecord:
    project = ctx.storage.project(project_id) if len(project_id) <= 63 else None
    if project is None:
        raise NotVisible("no such project")
    return project


def _group_id(request: Request) -> int:
    text = request.path_params["group"]
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not 0 < int(text) <= q.MAX_ID:
        raise NotVisible("no such group")
    return int(text)


def listed_json(group: ListedGroup, min_k: int) -> dict[str, Any]:
    """One row of the list as JSON."""
    return {"id": group.id, "type": group.crash_type, "message": group.message, "culprit": group.culprit,
            "status": group.status, "assignee": group.assignee, "events": group.events,
            "installs": k_visible(group.installs, min_k), "today": group.today, "yesterday": group.yesterday,
            "first_seen": _iso(group.first_seen), "last_seen": _iso(group.last_seen),
            "first_release": group.first_release, "resolved_in": group.resolved_in,
            "regressed_in": group.regressed_in, "releases": list(group.releases), "daily": list(group.daily)}


def _row_json(row: Any, rules: TitleRules, min_k: int) -> dict[str, Any]:
    return {"id": row.id, "type": row.crash_type, "message": shown_message(rules, row.title_message,
                                                                            row.title_message_at),
            "culprit": row.culprit if rules.culprit else None, "status": row.status, "assignee": row.assignee,
            "events": int(row.total_count), "installs": k_visible(int(row.install_count), min_k),
            "first_seen": _iso(row.first_seen), "last_seen": _iso(row.last_seen),
            "first_release": row.first_release, "resolved_in": row.resolved_in, "regressed_in": row.regressed_in}


def _scoped(ctx: ApiContext, caller: ApiCaller, request: Request,
            needs: frozenset[str] | None = None) -> tuple[ProjectRecord, frozenset[str]]:
    project_id = request.path_params["project"]
    roles = project_roles(caller, project_id, needs=needs)
    return _project(ctx, project_id), roles


async def list_groups(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/groups: one page, ``next`` cursor in the body and a Link header."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "groups:read")
    moment = ctx.now()
    names = [name for name, _ in request.query_params.multi_items()]
    query = parse_query(request.query_params, now=moment, multi={name: names.count(name) for name in set(names)})

    def load() -> tuple[dict[str, Any], str | None]:
        project, roles = _scoped(ctx, caller, request)
        rules = title_rules(project.policy, roles, now=moment)
        with ctx.storage.engine.connect() as conn:
            page = list_page(conn, project.id, query, rules, now=moment)
        min_k = project.policy.aggregation.min_k
        following = page.next.text() if page.next is not None else None
        link = query.url(f"/api/v1/projects/{project.id}/groups", after=page.next) if page.next else None
        return {"groups": [listed_json(g, min_k) for g in page.rows], "next": following}, link

    body, link = await run_in_threadpool(load)
    return json_answer(request, body, link=f'<{link}>; rel="next"' if link is not None else None)


def _group_body(ctx: ApiContext, project: ProjectRecord, roles: frozenset[str], group_id: int) -> bytes:
    with ctx.storage.engine.connect() as conn:
        row = q.group_row(conn, project.id, group_id)
    if row is None:
        raise NotVisible("no such group")
    rules = title_rules(project.policy, roles, now=ctx.now())
    return json.dumps(_row_json(row, rules, project.policy.aggregation.min_k), separators=(",", ":")).encode()


def _group_answer(body: bytes, request: Request) -> Response:
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    wanted = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if etag in wanted or f"W/{etag}" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def get_group(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/groups/{group}: the group, ``ETag``; ``If-None-Match`` gives 304."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "groups:read")
    group_id = _group_id(request)

    def load() -> bytes:
        project, roles = _scoped(ctx, caller, request)
        return _group_body(ctx, project, roles, group_id)

    return _group_answer(await run_in_threadpool(load), request)


def _changes(data: object) -> tuple[str | None, str | None, str | None, bool]:
    """(status, release, assignee, assignee given) of a PATCH body; :class:`BadApiInput` if malformed."""
    if not isinstance(data, Mapping) or not data:
        raise BadApiInput("(body)", "a JSON object with status and/or assignee")
    for name in data:
        if name not in ("status", "release", "assignee"):
            raise BadApiInput("(body)", "only the fields status, release, assignee")
    status = data.get("status")
    if status is not None and status not in SETTABLE:
        raise BadApiInput("status", "one of " + ", ".join(SETTABLE))
    release = data.get("release")
    if release is not None and (not isinstance(release, str) or not 0 < len(release) <= _MAX_RELEASE
                                or not release.isprintable() or status != "resolved"):
        raise BadApiInput("release", f"1-{_MAX_RELEASE} printable characters, with status resolved")
    assignee = data.get("assignee")
    if assignee is not None and not isinstance(assignee, str):
        raise BadApiInput("assignee", "a user id (user:<n>) or null")
    if status is None and "assignee" not in data:
        raise BadApiInput("(body)", "status and/or assignee")
    return status, release, assignee, "assignee" in data


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise BadApiInput("(body)", f"at most {_MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadApiInput("(body)", "a JSON object") from None


async def update_group(ctx: ApiContext, request: Request) -> Response:
    """PATCH /projects/{project}/groups/{group}: status and/or assignee, audited like the dashboard."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "groups:write")
    group_id = _group_id(request)
    status, release, assignee, set_assignee = _changes(await _json_body(request))

    def apply() -> bytes:
        project, roles = _scoped(ctx, caller, request, needs=STATUS_ROLES)
        dash = ctx.dashboard
        actor = f"user:{caller.principal.user_id}"
        if set_assignee and assignee is not None and assignee not in assign_page.assignable_users(dash, project.id):
            raise BadApiInput("assignee", "a user who may change groups in this project, or null")
        if_match(request, _group_body(ctx, project, roles, group_id))  # 404 if there is no such group
        dash.audit.record("token.use", actor=actor, project_id=project.id,
                          subject=f"token:{caller.principal.token_id}",
                          detail={"operation": "updateGroup", "group": f"group:{group_id}"})
        if status is not None:
            groups_page.apply_status(dash, groups_page.StatusChange(project.id, group_id, status, release, actor,
                                                                      ctx.now()))
        if set_assignee:
            assign_page.apply_assignment(dash, project.id, group_id, assignee, actor)
        return _group_body(ctx, project, roles, group_id)

    body = await run_in_threadpool(apply)
    return Response(body, media_type="application/json", headers={"ETag": etag_of(body), "Cache-Control": "no-store"})
