"""The API's URL table under ``/api/v1/`` on the web listener, and its two unscoped answers.

===============================================  =====  ============  ==================================
route                                            verb   scope         answer
===============================================  =====  ============  ==================================
``/api/v1/openapi.json``                         GET    (no token)    the OpenAPI 3.1 description
``/api/v1/projects``                             GET    (any token)   projects the token's roles reach
``/api/v1/projects/{project}/groups``            GET    groups:read   a page of groups, ``next``
``/api/v1/projects/{project}/groups/{group}``    GET    groups:read   one group, ``ETag`` / 304
``/api/v1/projects/{project}/groups/{group}``    PATCH  groups:write  status / assignee, audited
``/api/v1/projects/{project}/audit``             GET    audit:read    the project's audit entries
``/api/v1/projects/{project}/reports/{report}``  GET    reports:read  one report: reason header, audited
``/api/v1/projects/{project}``                   GET    (any token)   one project, its group count, min_k
``/api/v1/projects/{project}/releases``          GET    groups:read   release health, the releases page's
``/api/v1/projects/{project}/aggregates``        GET    groups:read   daily counts per group and release
``/api/v1/projects/{project}/public-summary``    GET    (no token)    the public page's data, same switch
``/api/v1/tokens``                               GET    admin         tokens (never a secret), audited
``/api/v1/tokens/{token}/revoke``                POST   admin         revoke a token, audited
===============================================  =====  ============  ==================================

Every GET but the audited report read answers with an ``ETag`` (lists too) and 304 to a
matching ``If-None-Match``; lists page with an opaque cursor and a ``Link`` header
(``api.paging``). A group's PATCH honours ``If-Match`` when the client sends it (412).

Plain routes with full paths (no ``Mount``): the native ingest API shares the ``/api/v1/``
prefix on the ``all`` surface, and a mount would shadow it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crashveil.server.api import audit, groups, reports, tokens
from crashveil.server.api.context import ApiContext
from crashveil.server.api.errors import json_errors
from crashveil.server.api.openapi import description
from crashveil.server.api.projects import aggregates, detail as projects, releases
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.governance.access import AccessStore
from crashveil.server.storage.store import Storage

__all__ = ["api_routes"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def api_routes(storage: Storage, *, access: AccessStore, dashboard: DashboardContext,
               now: Callable[[], datetime] = _utc_now) -> list[BaseRoute]:
    """The API's routes, to append to the web listener's route table."""
    ctx = ApiContext(storage=storage, access=access, dashboard=dashboard, now=now)
    contract = json.dumps(description()).encode()

    async def openapi(request: Request) -> Response:
        return Response(contract, media_type="application/json")

    def bound(handler: Callable[[ApiContext, Request], Awaitable[Response]]) -> Callable[[Request],
                                                                                         Awaitable[Response]]:
        return json_errors(partial(handler, ctx))

    group = "/api/v1/projects/{project}/groups/{group}"
    return [
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/projects", bound(projects.list_projects), methods=["GET"]),
        Route("/api/v1/projects/{project}/groups", bound(groups.list_groups), methods=["GET"]),
        Route(group, bound(groups.get_group), methods=["GET"]),
        Route(group, bound(groups.update_group), methods=["PATCH"]),
        Route("/api/v1/projects/{project}/audit", bound(audit.list_audit), methods=["GET"]),
        Route("/api/v1/projects/{project}/reports/{report}", bound(reports.get_report), methods=["GET"]),
        Route("/api/v1/projects/{project}", bound(projects.get_project), methods=["GET"]),
        Route("/api/v1/projects/{project}/releases", bound(releases.list_releases), methods=["GET"]),
        Route("/api/v1/projects/{project}/aggregates", bound(aggregates.list_aggregates), methods=["GET"]),
        Route("/api/v1/projects/{project}/public-summary", bound(projects.get_public_summary), methods=["GET"]),
        Route("/api/v1/tokens", bound(tokens.list_tokens), methods=["GET"]),
        Route("/api/v1/tokens/{token}/revoke", bound(tokens.revoke_token), methods=["POST"]),
    ]
