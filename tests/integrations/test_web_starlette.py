"""Starlette and FastAPI through the real frameworks: the patched app, exception handlers, privacy."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from crashveil.sdk.integrations.web.starlette import StarletteIntegration

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import CANARIES, assert_no_canary, delivered, reporting


class OrderRejected(Exception):
    pass


class OrderMissing(Exception):
    pass


async def create_order(request: Request) -> PlainTextResponse:
    raise KeyError("boom")


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/users/{name}/orders", create_order, methods=["POST"])])


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/users/{name}/orders")
    async def create_fastapi_order(name: str) -> dict[str, str]:
        raise KeyError("boom")

    @app.post("/users/{name}/rejected")
    def rejected(name: str) -> dict[str, str]:
        raise OrderRejected("no")

    @app.post("/users/{name}/missing")
    def missing(name: str) -> dict[str, str]:
        raise OrderMissing("gone")

    @app.exception_handler(OrderRejected)
    async def on_rejected(request: Request, exc: OrderRejected) -> JSONResponse:
        return JSONResponse({"error": "internal"}, status_code=500)  # swallowed: a crash

    @app.exception_handler(OrderMissing)
    def on_missing(request: Request, exc: OrderMissing) -> JSONResponse:
        return JSONResponse({"error": "not found"}, status_code=404)  # an answer, not a crash

    return app


def crash(app: Any, route: str = "orders", **headers: str) -> int:
    """POST a request full of canaries through httpx's in-process ASGI transport; the status."""

    async def post() -> int:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(CANARIES["client"], 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     cookies={"session": CANARIES["cookie"]}) as client:
            response = await client.post(f"/users/{CANARIES['path']}/{route}?email={CANARIES['query']}",
                                         content=CANARIES["body"].encode(),
                                         headers={"X-Customer": CANARIES["header"], **headers})
            return response.status_code

    return asyncio.run(post())


@pytest.mark.parametrize(("make", "handler"), [(starlette_app, "create_order"),
                                               (fastapi_app, "create_fastapi_order")])
def test_crash_reports_route_template(tmp_path: Path, dsn: str, opener: Any, make: Any, handler: str) -> None:
    """A crash that reaches the server: one report with the route template, never the path."""
    with reporting(tmp_path, dsn, opener, integrations=[StarletteIntegration()], logging_integration=True) as transport:
        assert 500 == crash(make())
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("KeyError", "web", "/users/{name}/orders", "POST", 500) == (
        report["crash_type"], report["mechanism"], report["route"], report["http_method"], report["status_code"])
    assert report["handler"].endswith(handler)


def test_exception_handler_answering_500_is_reported(tmp_path: Path, dsn: str, opener: Any) -> None:
    """The app's own handler swallowed the crash (a JSON 500): reported; a handler's 404 is not."""
    with reporting(tmp_path, dsn, opener) as transport:
        app = fastapi_app()
        assert (500, 404) == (crash(app, "rejected"), crash(app, "missing"))
        reports = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert [("OrderRejected", "/users/{name}/rejected", 500)] == [
        (report["crash_type"].rsplit(".", 1)[-1], report["route"], report["status_code"]) for report in reports]


def test_opt_out_header_and_hook(tmp_path: Path, dsn: str, opener: Any) -> None:
    scopes: list[str] = []

    def opted_out(scope: object) -> bool:
        assert isinstance(scope, dict)
        scopes.append(scope["type"])
        return True

    with reporting(tmp_path, dsn, opener) as transport:
        assert 500 == crash(starlette_app(), **{"X-Crashveil-Opt-Out": "1"})
        assert [] == delivered(transport)
    with reporting(tmp_path, dsn, opener, integrations=[StarletteIntegration(opt_out=opted_out)]) as transport:
        assert 500 == crash(starlette_app())
        assert ([], ["http"]) == (delivered(transport), scopes)


def test_not_reported_after_shutdown(tmp_path: Path, dsn: str, opener: Any) -> None:
    """The patch stays, but asks the current client: after shutdown() nothing is captured."""
    with reporting(tmp_path, dsn, opener) as transport:
        pass
    assert 500 == crash(starlette_app())
    assert [] == transport.payloads("report")
