"""The generic WSGI and ASGI middleware, with real servers' in-process clients (werkzeug, httpx)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from crashveil.sdk.integrations.web.asgi import CrashveilASGIMiddleware
from crashveil.sdk.integrations.web.wsgi import CrashveilWSGIMiddleware

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import CANARIES, assert_no_canary, delivered, reporting


def crashing_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    raise LookupError("boom")


def streaming_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part"
    raise LookupError("halfway")


def wsgi_request(app: Any, **headers: str) -> None:
    client = Client(app)
    client.set_cookie("session", CANARIES["cookie"])
    with pytest.raises(LookupError):
        client.post(f"/users/{CANARIES['path']}?q={CANARIES['query']}", data=CANARIES["body"],
                    headers={"X-Customer": CANARIES["header"], **headers},
                    environ_base={"REMOTE_ADDR": CANARIES["client"]}).get_data()


def test_wsgi_crash_is_reported_and_reraised(tmp_path: Path, dsn: str, opener: Any) -> None:
    """Plain WSGI has no route: only the method and 500, and the route the app names, if any."""
    app = CrashveilWSGIMiddleware(crashing_wsgi, route_of=lambda environ: "/users/{name}")
    with reporting(tmp_path, dsn, opener) as transport:
        wsgi_request(app)
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("LookupError", "/users/{name}", "POST", 500, None) == (
        report["crash_type"], report["route"], report["http_method"], report["status_code"], report.get("handler"))


def test_wsgi_crash_while_streaming_keeps_the_started_status(tmp_path: Path, dsn: str, opener: Any) -> None:
    with reporting(tmp_path, dsn, opener) as transport:
        wsgi_request(CrashveilWSGIMiddleware(streaming_wsgi))
        [report] = delivered(transport)
    assert (200, None) == (report["status_code"], report.get("route"))


def test_wsgi_opt_out_header(tmp_path: Path, dsn: str, opener: Any) -> None:
    with reporting(tmp_path, dsn, opener) as transport:
        wsgi_request(CrashveilWSGIMiddleware(crashing_wsgi), **{"X-Crashveil-Opt-Out": "yes"})
        assert [] == delivered(transport)


async def crashing_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise LookupError("boom")


def asgi_request(app: Any, **headers: str) -> None:
    async def post() -> None:
        transport = httpx.ASGITransport(app=app, client=(CANARIES["client"], 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            with pytest.raises(LookupError):
                await client.post(f"/users/{CANARIES['path']}?q={CANARIES['query']}", content=CANARIES["body"],
                                  headers={"X-Customer": CANARIES["header"], "Cookie": f"s={CANARIES['cookie']}",
                                           **headers})

    asyncio.run(post())


def test_asgi_crash_is_reported_and_reraised(tmp_path: Path, dsn: str, opener: Any) -> None:
    with reporting(tmp_path, dsn, opener) as transport:
        asgi_request(CrashveilASGIMiddleware(crashing_asgi))
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("LookupError", "POST", 500) == (report["crash_type"], report["http_method"], report["status_code"])
    assert "route" not in report


def test_asgi_opt_out_and_sampling(tmp_path: Path, dsn: str, opener: Any) -> None:
    with reporting(tmp_path, dsn, opener) as transport:
        asgi_request(CrashveilASGIMiddleware(crashing_asgi), **{"X-Crashveil-Opt-Out": "1"})
        asgi_request(CrashveilASGIMiddleware(crashing_asgi, route_sample_rates={"": 0.0}))
        assert [] == delivered(transport)


def test_settings_are_checked() -> None:
    from crashveil.errors import ConfigError

    with pytest.raises(ConfigError, match="route_sample_rates"):
        CrashveilASGIMiddleware(crashing_asgi, route_sample_rates={"/a": 2.0})
    with pytest.raises(ConfigError, match="opt_out"):
        CrashveilWSGIMiddleware(crashing_wsgi, opt_out="yes")


def test_request_context_values_are_safe_for_the_wire() -> None:
    """Methods are short upper-case words or OTHER; statuses 100..599; only set fields are carried."""
    from crashveil.sdk.integrations.web.request_context import RequestContext, handler_name, method_name, status_of

    assert ["GET", "OTHER", "OTHER", None] == [method_name(m) for m in ("get", "GET\n", "X" * 17, "")]
    assert [500, 200, None, None, None] == [status_of(s) for s in (500, b"200 OK", "abc", True, 700)]
    assert (handler_name(crashing_wsgi) or "").endswith("test_web_generic.crashing_wsgi")
    assert (("http_method", "PUT"), ("status_code", 503)) == RequestContext(http_method="PUT", status_code=503).fields()
