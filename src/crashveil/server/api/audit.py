"""A project's audit entries through the API (scope ``audit:read``, a role with ``audit.read``).

Newest first, by ``seq``; a page ends with ``next``, the ``before`` of the following page (a
keyset on the primary key, so any page costs what the first does). Entries are the trail's
own (ids, actions, flat details; never report content); the dashboard's privacy page shows
the same ones to the same roles.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import BadQueryParameter
from crashveil.server.api.auth import authenticate, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import json_answer
from crashveil.server.db.engine import read_tx
from crashveil.server.db.governance_tables import audit_entries
from crashveil.server.governance.audit import AuditEntry
from crashveil.server.governance.principals import require_permission

__all__ = ["list_audit"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_SEQ = 2**62


def _number(request: Request, name: str, low: int, high: int) -> int | None:
    given = request.query_params.getlist(name)
    if not given:
        return None
    text = given[0].strip()
    if len(given) > 1 or not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise BadQueryParameter(name, f"one whole number from {low} to {high}")
    return int(text)


def _check_names(request: Request) -> None:
    for name in request.query_params:
        if name not in ("before", "limit"):
            raise BadQueryParameter("(a parameter name)", "before, limit")


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "project_id": entry.project_id, "subject": entry.subject, "details": entry.details}


async def list_audit(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/audit: the project's entries, newest first."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "audit:read")
    _check_names(request)
    limit = _number(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = _number(request, "before", 1, _MAX_SEQ)
    project_id = request.path_params["project"]
    require_permission(caller.principal, project_id, "audit.read")

    def load() -> list[AuditEntry]:
        t = audit_entries.c
        query = sa.select(audit_entries).where(t.project_id == project_id)
        if before is not None:
            query = query.where(t.seq < before)
        with read_tx(ctx.storage.engine) as conn:
            rows = conn.execute(query.order_by(t.seq.desc()).limit(limit + 1)).all()
        return [AuditEntry(r.seq, r.at, r.actor, r.action, r.project_id, r.subject, r.detail, r.prev_hash, r.hash)
                for r in rows]

    entries = await run_in_threadpool(load)
    following = entries[limit - 1].seq if len(entries) > limit else None
    link = f'</api/v1/projects/{project_id}/audit?before={following}&limit={limit}>; rel="next"' \
        if following is not None else None
    return json_answer(request, {"entries": [entry_json(e) for e in entries[:limit]],
                                 "next": str(following) if following is not None else None}, link=link)
