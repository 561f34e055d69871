"""Who calls the API: the bearer token (``Authorization: Bearer cvt_...``), its scopes and roles.

Checks run in a fixed order so answers tell nothing they need not: no valid token is 401;
a token without the operation's scope is 403 naming the scope (scopes belong to the token,
so this says nothing about any project); a project the token's roles do not reach is 404,
as in the dashboard; a role that may not do the operation there is 403.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from crashveil.errors import AccessDenied, ScopeMissing, TokenRefused
from crashveil.server.governance.access import AccessStore, ApiCaller
from crashveil.server.governance.principals import require_permission
from crashveil.server.governance.token_scopes import has_scope

__all__ = ["authenticate", "project_roles", "require_scope"]

_MAX_HEADER = 200


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if len(header) > _MAX_HEADER or scheme.lower() != "bearer" or not token.strip():
        raise TokenRefused("a bearer token is needed")
    return token.strip()


async def authenticate(request: Request, access: AccessStore) -> ApiCaller:
    """The caller of ``request``; :class:`TokenRefused` (401) without a valid token."""
    token = _bearer(request)
    return await run_in_threadpool(access.authenticate_api, token)


def require_scope(caller: ApiCaller, scope: str) -> None:
    """:class:`ScopeMissing` (403) unless the token holds ``scope``."""
    if not has_scope(caller.scopes, scope):
        raise ScopeMissing(scope)


def project_roles(caller: ApiCaller, project_id: str, *, needs: frozenset[str] | None = None) -> frozenset[str]:
    """The token's roles in ``project_id`` (404 without any; 403 without one of ``needs``)."""
    roles = require_permission(caller.principal, project_id, "aggregates.read")
    if needs is not None and not roles & needs:
        raise AccessDenied(f"this needs one of the roles {', '.join(sorted(needs))} in the project")
    return roles
