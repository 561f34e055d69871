"""Starlette and FastAPI: the app's outermost layer, and the exception handlers.

``setup_once`` patches ``Starlette.__call__`` (FastAPI's calls it) so a crash that escapes
any app is reported (``asgi.report_escaped``) before it reaches the server, and
``ExceptionMiddleware.add_exception_handler`` so an app's own handler for an exception
class is watched: when it answers 5xx the crash was swallowed and is reported (a handler
answering 404 for ``NotFound`` is not a crash). Route templates come from the scope
(``scope["route"].path``), never the path itself.

Imported only when ``starlette`` is already loaded, or when the app names the integration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request

from crashveil.sdk.integrations._base import active
from crashveil.sdk.integrations.web._web import WebIntegration
from crashveil.sdk.integrations.web.asgi import Receive, Scope, Send, context_of_scope, opt_out_header, report_escaped

__all__ = ["StarletteIntegration", "default_integrations"]

_PATCHED = "_crashveil_patched"


class StarletteIntegration(WebIntegration):
    """Reports Starlette and FastAPI requests' crashes (settings: :class:`WebIntegration`)."""

    name = "starlette"
    framework_module = "starlette"

    def setup_once(self) -> None:
        _patch_call()
        _patch_handlers()


def default_integrations() -> tuple[StarletteIntegration]:
    return (StarletteIntegration(),)


def _current() -> StarletteIntegration | None:
    integration = active(StarletteIntegration.name)
    return integration if isinstance(integration, StarletteIntegration) else None


def _patch_call() -> None:
    original = Starlette.__call__
    if getattr(original, _PATCHED, False):
        return

    async def call(self: Starlette, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await original(self, scope, receive, send)
        except Exception as exc:
            integration = _current()
            if integration is not None and scope["type"] == "http":
                report_escaped(integration, exc, scope)
            raise

    setattr(call, _PATCHED, True)
    Starlette.__call__ = call  # type: ignore[method-assign]


def _patch_handlers() -> None:
    original = ExceptionMiddleware.add_exception_handler
    if getattr(original, _PATCHED, False):
        return

    def add_exception_handler(self: ExceptionMiddleware, key: int | type[Exception], handler: Any) -> None:
        if isinstance(key, type) and not issubclass(key, (HTTPException, WebSocketException)):
            handler = _watched(handler)
        original(self, key, handler)

    setattr(add_exception_handler, _PATCHED, True)
    ExceptionMiddleware.add_exception_handler = add_exception_handler  # type: ignore[method-assign, assignment]


def _watched(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler``, reporting the exception it handled when its answer is a server error."""

    def check(request: Request, exc: Exception, response: Any) -> None:
        integration = _current()
        status = getattr(response, "status_code", None)  # a Response, or whatever the app returned
        if integration is None or not isinstance(status, int) or status < 500 or request.scope["type"] != "http":
            return
        scope = request.scope
        integration.report(exc, scope, context_of_scope(scope, status),
                           header_value=opt_out_header(integration, scope))

    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def watched_async(request: Request, exc: Exception) -> Any:
            response = await handler(request, exc)
            check(request, exc, response)
            return response

        return watched_async

    @functools.wraps(handler)
    def watched(request: Request, exc: Exception) -> Any:
        response = handler(request, exc)
        check(request, exc, response)
        return response

    return watched
