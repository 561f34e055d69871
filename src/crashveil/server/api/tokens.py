"""API tokens through the API (scope ``admin``): list them and revoke one, audited.

Who sees which tokens: a token holding the ``admin`` role for every project (``*``) sees and
revokes every token, as only such an admin may create tokens for others
(``AccessStore.create_token``); any other ``admin``-scoped token sees and revokes its own
user's tokens only (another user's token is 404). A token's secret is never sent (only its
SHA-256 is stored anyway): id, name, user, projects, roles, scopes, times, use count,
whether it is revoked or expired.

Every call writes a ``token.use`` entry (actor: the token's user; subject: the calling
token; detail: the operation and the token acted on); a revocation also writes
``token.revoke`` through the access store, as the CLI's does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crashveil.errors import NotVisible
from crashveil.server.api.auth import authenticate, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import Page, check_names, decode_cursor, encode_cursor, json_answer, limit_param
from crashveil.server.governance.access import ApiCaller, TokenInfo
from crashveil.server.governance.principals import ALL_PROJECTS

__all__ = ["list_tokens", "revoke_token", "token_json"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def token_json(token: TokenInfo, now: datetime) -> dict[str, Any]:
    """A token's metadata; never its secret."""
    return {"id": token.token_id, "name": token.name, "user": token.user, "projects": list(token.projects),
            "roles": list(token.roles), "scopes": list(token.scopes), "created_at": _time(token.created_at),
            "expires_at": _time(token.expires_at), "last_used_at": _time(token.last_used_at),
            "use_count": token.use_count, "revoked": token.revoked,
            "expired": token.expires_at is not None and token.expires_at <= now}


def _visible(ctx: ApiContext, caller: ApiCaller) -> list[TokenInfo]:
    """The tokens this caller may manage, oldest first."""
    principal = caller.principal
    every = "admin" in principal.roles_in(ALL_PROJECTS)
    listed = [t for t in ctx.access.list_tokens() if every or t.user == principal.name]
    return sorted(listed, key=lambda t: (_time(t.created_at) or "", t.token_id))


def _audit_use(ctx: ApiContext, caller: ApiCaller, operation: str, token_id: str | None = None) -> None:
    detail = {"operation": operation} | ({"token": f"token:{token_id}"} if token_id else {})
    ctx.access.audit.record("token.use", actor=f"user:{caller.principal.user_id}",
                            subject=f"token:{caller.principal.token_id}", detail=detail)


async def list_tokens(ctx: ApiContext, request: Request) -> Response:
    """GET /tokens: the tokens the caller may manage, oldest first, in pages."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "admin")
    check_names(request, ("limit", "cursor"))
    limit = limit_param(request, DEFAULT_LIMIT, MAX_LIMIT)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, "tokens", (str, str)) if cursor is not None else None
    now = ctx.now()

    def load() -> Page:
        _audit_use(ctx, caller, "listTokens")
        tokens = [t for t in _visible(ctx, caller)
                  if after is None or ((_time(t.created_at) or ""), t.token_id) > tuple(after)]
        shown = tokens[:limit]
        last = shown[-1] if shown else None
        following = encode_cursor("tokens", [_time(last.created_at) or "", last.token_id]) \
            if last is not None and len(tokens) > limit else None
        return Page("tokens", [token_json(t, now) for t in shown], following)

    page = await run_in_threadpool(load)
    return json_answer(request, page.body(), link=page.link("/api/v1/tokens", {"limit": str(limit)}))


async def revoke_token(ctx: ApiContext, request: Request) -> Response:
    """POST /tokens/{token}/revoke: revoke at once (again: no change); the token's metadata."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "admin")
    check_names(request, ())
    token_id = request.path_params["token"]
    if not _TOKEN_ID.match(token_id):
        raise NotVisible("no such token")

    def revoke() -> dict[str, Any]:
        if not any(t.token_id == token_id for t in _visible(ctx, caller)):
            raise NotVisible("no such token")
        _audit_use(ctx, caller, "revokeToken", token_id)
        ctx.access.revoke_token(token_id, actor=f"user:{caller.principal.user_id}")
        (token,) = [t for t in ctx.access.list_tokens() if t.token_id == token_id]
        return token_json(token, ctx.now())

    return JSONResponse(await run_in_threadpool(revoke), headers={"Cache-Control": "no-store"})
