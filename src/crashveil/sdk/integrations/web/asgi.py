"""Generic ASGI middleware: report an HTTP request's crash that escapes the app, re-raise it.

``app = CrashveilASGIMiddleware(app)``. The report carries the method, the status 500 (what
the server answers an exception with) and, from the scope the framework filled while
routing, the route *template* (``scope["route"].path``: Starlette, FastAPI) and the
endpoint's name. Never ``scope["path"]``, the query string, headers or ``scope["client"]``.

``send`` is not wrapped: a crash after the answer had started is reported as 500 too.
Tracking the started status would cost a wrapper around every message of every request,
~0.4 us, 6 % of a bare Starlette request (``bench/integrations_overhead.py``); the
try/except alone costs ~0.2 us.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from crashveil.sdk.integrations.web._web import WebIntegration
from crashveil.sdk.integrations.web.request_context import RequestContext, handler_name, method_name

__all__ = ["CrashveilASGIMiddleware", "report_escaped", "context_of_scope", "opt_out_header"]

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
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope["type"] == "http":
                report_escaped(self.web, exc, scope)
            raise


def report_escaped(web: WebIntegration, exc: Exception, scope: Scope) -> None:
    """Report an HTTP request's crash that escaped the app (the caller re-raises it)."""
    web.report(exc, scope, context_of_scope(scope, 500), header_value=opt_out_header(web, scope))


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
