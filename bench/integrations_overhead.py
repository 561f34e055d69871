"""Cost of the web integrations on a request: each family with crashveil's layer vs without.

One process, crashveil initialised with consent granted (the integrations fully on). For each
web family a trivial handler (``/items/{id}`` answering "ok") is driven in-process at the
framework's own entry point, without a test client around it: a WSGI call for WSGI, Flask
and Django, a bare ASGI call for ASGI, Starlette and FastAPI. ``off`` is the same app without
crashveil's layer (no middleware, Starlette's own ``__call__``); ``on`` has it. Rounds
alternate the two (and their order) so drift on a shared machine hits both; the table
shows the medians of per-request CPU times (this thread's) over the rounds and their ratio (target <= 1.05).

Flask's integration is a signal sent only when a view raises: its ``on`` and ``off`` run the
same code, so its ratio measures the noise of this bench.

    python bench/integrations_overhead.py [--rounds 41] [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table

import crashveil

Request = Callable[[int], None]  # runs n requests
_loop = asyncio.new_event_loop()  # one loop for every ASGI request: a new loop per round would dominate


def wsgi_driver(app: Any) -> Request:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/items/42", "QUERY_STRING": "", "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
               "HTTP_HOST": "bench", "REMOTE_ADDR": "127.0.0.1"}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        assert status.startswith("200"), status
        return None

    def run(n: int) -> None:
        for _ in range(n):
            result = app(dict(environ), start_response)
            b"".join(result)
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return run


def asgi_driver(app: Any) -> Request:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/items/42", "raw_path": b"/items/42", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 5000), "server": ("bench", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    async def many(n: int) -> None:
        for _ in range(n):
            await app(dict(scope), receive, send)

    return lambda n: _loop.run_until_complete(many(n))


def flask_app() -> Any:
    import flask

    app = flask.Flask("bench")
    app.add_url_rule("/items/<int:item>", "item", lambda item: "ok")
    return app


def wsgi_pair() -> tuple[Request, Request]:
    """The generic middleware around a small WSGI app (Flask's, called as plain WSGI)."""
    from crashveil.sdk.integrations.web.wsgi import CrashveilWSGIMiddleware

    app = flask_app().wsgi_app
    return wsgi_driver(app), wsgi_driver(CrashveilWSGIMiddleware(app))


def asgi_pair() -> tuple[Request, Request]:
    """The generic middleware around a small ASGI app (a Starlette router: no patched app class)."""
    from crashveil.sdk.integrations.web.asgi import CrashveilASGIMiddleware

    router = starlette_app().router
    return asgi_driver(router), asgi_driver(CrashveilASGIMiddleware(router))


def flask_pair() -> tuple[Request, Request]:
    app = flask_app().wsgi_app
    return wsgi_driver(app), wsgi_driver(app)


def django_pair() -> tuple[Request, Request]:
    import types

    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.urls import path

    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [path("items/<int:item>", lambda request, item: HttpResponse("ok"))]  # type: ignore[attr-defined]
    sys.modules["bench_urls"] = urls
    settings.configure(DEBUG=False, SECRET_KEY="bench", ROOT_URLCONF="bench_urls", ALLOWED_HOSTS=["*"],
                       MIDDLEWARE=[], LOGGING_CONFIG=None, INSTALLED_APPS=[])
    django.setup()
    off = WSGIHandler()
    settings.MIDDLEWARE = ["crashveil.sdk.integrations.web.django.CrashveilMiddleware"]
    on = WSGIHandler()
    return wsgi_driver(off), wsgi_driver(on)


def starlette_pair(make: Callable[[], Any], original: Any) -> tuple[Request, Request]:
    """The same app with Starlette's own ``__call__`` (off) and crashveil's patched one (on)."""
    from starlette.applications import Starlette

    patched = Starlette.__call__
    app = make()
    on, off = asgi_driver(app), asgi_driver(app)

    def with_call(call: Any, run: Request) -> Request:
        def timed(n: int) -> None:
            Starlette.__call__ = call  # type: ignore[method-assign]
            try:
                run(n)
            finally:
                Starlette.__call__ = patched  # type: ignore[method-assign]

        return timed

    return with_call(original, off), with_call(patched, on)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def item(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/items/{item}", item)])


def fastapi_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.get("/items/{item}", response_class=PlainTextResponse)
    async def item(item: int) -> str:
        return "ok"

    return app


def measure(run: Request, requests: int) -> float:
    """CPU microseconds of this thread per request over ``requests`` requests.

    CPU time rather than wall time: on a shared machine the wall clock also counts the time
    other processes held the core, which swamps a difference of a few percent.
    """
    start = time.thread_time()
    run(requests)
    return (time.thread_time() - start) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    import django  # noqa: F401 - imported before init(): the integrations are auto-detected
    import fastapi  # noqa: F401
    import flask  # noqa: F401
    import starlette.applications

    original_call = starlette.applications.Starlette.__call__
    data_dir = Path(tempfile.mkdtemp(prefix="crashveil-bench-"))
    crashveil.init(data_dir=data_dir, app_name="bench-integrations")
    crashveil.grant("crash")

    families: dict[str, tuple[Request, Request]] = {
        "WSGI middleware (around Flask)": wsgi_pair(),
        "ASGI middleware (around a router)": asgi_pair(),
        "Flask (signal)": flask_pair(),
        "Django (middleware + signal)": django_pair(),
        "Starlette (patched app)": starlette_pair(starlette_app, original_call),
        "FastAPI (patched app)": starlette_pair(fastapi_app, original_call),
    }
    rows = []
    for name, (off, on) in families.items():
        off(200), on(200)  # warm up: imports, caches, first routes
        times: dict[str, list[float]] = {"off": [], "on": []}
        for index in range(args.rounds):
            order = [("off", off), ("on", on)] if index % 2 == 0 else [("on", on), ("off", off)]
            for mode, run in order:
                times[mode].append(measure(run, args.requests))
        off_us, on_us = median(times["off"]), median(times["on"])
        rows.append([name, f"{off_us:.2f}", f"{on_us:.2f}", f"{on_us - off_us:+.2f}", f"{on_us / off_us:.3f}"])
    crashveil.shutdown()
    print(f"{args.rounds} rounds x {args.requests} requests, trivial handler, in-process; medians of CPU us/request")
    print_table(["family", "off us", "on us", "added us", "on/off (<= 1.05)"], rows)


if __name__ == "__main__":
    main()
