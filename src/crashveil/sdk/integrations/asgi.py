"""Generic ASGI middleware: report an HTTP request's crash that escapes the app, re-raise it.

``app = CrashveilASGIMiddleware(app)``. The report carries the method, the status (500
unless the answer had started) and, from the scope the framework filled while routing,
the route *template* (``scope["route"].path``: Starlette, FastAPI) and the endpoint's name.
Never ``scope["path"]``, the query string, headers or ``scope["client"]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from crashveil.sdk.integrations._web import WebIntegration
from crashveil.sdk.integrations.request_context import RequestContext, handler_name, method_name

__all__ = ["CrashveilASGIMiddleware", "run_reporting", "context_of_scope", "opt_out_header"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class CrashveilASGIMiddleware:
    """Wraps an ASGI app; the keyword settings are those of :class:`WebIntegration`."""

    def __init__(self, app: ASGIApp, **settings: Any) -> None:
        self.app = app
        self.web = WebIntegration(**settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await run_reporting(self.web, self.app, scope, receive, send)


async def run_reporting(web: WebIntegration, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` for one HTTP request; a crash that escapes it is reported (``web``), then re-raised."""
    status: list[int] = []

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        await send(message)

    try:
        await app(scope, receive, sending)
    except Exception as exc:
        web.report(exc, scope, context_of_scope(scope, status[-1] if status else 500),
                   header_value=opt_out_header(web, scope))
        raise


def context_of_scope(scope: Scope, status: int | None) -> RequestContext:
    """The request context from an ASGI scope after routing (route template, endpoint)."""
    route = scope.get("route")
    template = getattr(route, "path", None)  # Starlette's and FastAPI's route objects
    endpoint = scope.get("endpoint")
    return RequestContext(route=template if isinstance(template, str) else None,
                          http_method=method_name(scope.get("method")),
                          status_code=status if isinstance(status, int) and 100 <= status <= 599 else None,
                          handler=handler_name(endpoint) if callable(endpoint) else None)


def opt_out_header(web: WebIntegration, scope: Scope) -> bytes | None:
    """The opt-out header's value in the scope (None: absent or no header configured)."""
    wanted = web.header_bytes
    if wanted is None:
        return None
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return bytes(value)
    return None
