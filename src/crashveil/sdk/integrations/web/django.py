"""Django: a middleware and the ``got_request_exception`` signal.

The signal is sent for every exception a view lets out (Django then answers 500 and logs
it); it needs no settings change, so it is connected whenever the integration is on. The
middleware (``"crashveil.sdk.integrations.web.django.CrashveilMiddleware"`` in ``MIDDLEWARE``)
sees a view's exception first, through ``process_exception``; both are the same crash and
make one report. The route is the URL pattern (``users/<int:pk>/``) from
``request.resolver_match``, the handler the view's name: never ``request.path``, its
query, headers, cookies, body or ``REMOTE_ADDR``.

Imported only when ``django`` is already loaded, or when the app names the integration.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse

from crashveil.sdk.integrations._base import active
from crashveil.sdk.integrations.web._web import WebIntegration
from crashveil.sdk.integrations.web.request_context import RequestContext, handler_name, method_name

__all__ = ["DjangoIntegration", "CrashveilMiddleware", "default_integrations"]


class DjangoIntegration(WebIntegration):
    """Reports Django views' crashes (settings: :class:`WebIntegration`; the hook gets the ``HttpRequest``)."""

    name = "django"
    framework_module = "django"

    def setup_once(self) -> None:
        got_request_exception.connect(_on_exception, weak=False, dispatch_uid="crashveil")


def default_integrations() -> tuple[DjangoIntegration]:
    return (DjangoIntegration(),)


def _current() -> DjangoIntegration | None:
    integration = active(DjangoIntegration.name)
    return integration if isinstance(integration, DjangoIntegration) else None


def _on_exception(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    exc = sys.exc_info()[1]  # Django sends the signal inside its ``except`` block
    if exc is not None and isinstance(request, HttpRequest):
        _report(exc, request)


def _report(exc: BaseException, request: HttpRequest) -> None:
    integration = _current()
    if integration is None:
        return
    match = request.resolver_match
    route = handler = None
    if match is not None:
        route = match.route or None
        handler = handler_name(match.func)
    context = RequestContext(route=route, http_method=method_name(request.method), status_code=500, handler=handler)
    header = request.headers.get(integration.opt_out_header) if integration.opt_out_header else None
    integration.report(exc, request, context, header_value=header)


class CrashveilMiddleware:
    """Django middleware: reports a view's exception in ``process_exception`` (then Django goes on)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        _report(exception, request)
