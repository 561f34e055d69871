"""Cross-project access: every project-scoped route answers 404 with another project's ids.

The helper (``cross_project_matrix`` in conftest) walks a route table; here it runs over a
small table built with the access functions, and over the dashboard's routes when they can
be built in this checkout.
"""

from __future__ import annotations

import warnings

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.errors import AccessDenied, NotVisible
from crashveil.server.governance.principals import Principal, require_permission

USER = Principal(1, "dana", "session", {"alpha": frozenset({"developer"})})
REPORTS = {"alpha": {"r-alpha"}, "beta": {"r-beta"}}


def _guard(permission: str):
    def wrap(handler):
        async def run(request: Request) -> Response:
            try:
                require_permission(USER, request.path_params["project"], permission)
                return await handler(request)
            except NotVisible:
                return JSONResponse({"error": "not_found"}, status_code=404)
            except AccessDenied:
                return JSONResponse({"error": "forbidden"}, status_code=403)
        return run
    return wrap


@_guard("reports.read")
async def report(request: Request) -> Response:
    if request.path_params["report_id"] not in REPORTS[request.path_params["project"]]:
        raise NotVisible("no such report")
    return JSONResponse({"ok": True})


@_guard("aggregates.read")
async def groups(request: Request) -> Response:
    return JSONResponse({"ok": True})


ROUTES = [Mount("/p/{project}", routes=[Route("/groups", groups), Route("/reports/{report_id}", report,
                                                                         methods=["GET", "POST"])])]


def test_matrix_helper_finds_no_leak_in_scoped_routes(cross_project_matrix) -> None:
    """Routes guarded by require_permission and scoped lookups answer 404 for every foreign id."""
    client = TestClient(Starlette(routes=ROUTES))
    failures = cross_project_matrix(client, ROUTES, {"project": "alpha", "report_id": "r-alpha"},
                                    {"project": "beta", "report_id": "r-beta"})
    assert [] == failures


def test_matrix_helper_catches_an_unscoped_lookup(cross_project_matrix) -> None:
    """A route that looks a report up without its project is reported by the helper."""

    @_guard("reports.read")
    async def leaky(request: Request) -> Response:
        found = any(request.path_params["report_id"] in ids for ids in REPORTS.values())
        return JSONResponse({"ok": found}, status_code=200 if found else 404)

    routes = [Route("/p/{project}/leaky/{report_id}", leaky)]
    client = TestClient(Starlette(routes=routes))
    failures = cross_project_matrix(client, routes, {"project": "alpha", "report_id": "r-alpha"},
                                    {"project": "beta", "report_id": "r-beta"})
    assert ["GET /p/alpha/leaky/r-beta (own-project-other-ids): 200"] == failures
