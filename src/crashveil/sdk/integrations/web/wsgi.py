"""Generic WSGI middleware: report an app's crash that escapes it, then let it go on.

``app.wsgi_app = CrashveilWSGIMiddleware(app.wsgi_app)`` (or around any WSGI callable). The
report carries the method and the status (500 unless the app had started its answer);
the route only if ``route_of(environ)`` gives the app's *template* for the request:
plain WSGI has no routes, and the path itself is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from crashveil.sdk.integrations.web._web import WebIntegration
from crashveil.sdk.integrations.web.request_context import RequestContext, method_name, status_of

__all__ = ["CrashveilWSGIMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class CrashveilWSGIMiddleware:
    """Wraps a WSGI app; the keyword settings are those of :class:`WebIntegration`."""

    def __init__(self, app: WSGIApp, *, route_of: Callable[[Mapping[str, Any]], str | None] | None = None,
                 **settings: Any) -> None:
        self.app = app
        self.route_of = route_of
        self.web = WebIntegration(**settings)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        status: list[str] = []

        def started(status_line: str, headers: list[tuple[str, str]],
                    exc_info: Any = None) -> Callable[[bytes], object]:
            status.append(status_line)
            return start_response(status_line, headers, exc_info)

        try:
            result = self.app(environ, started)
        except Exception as exc:
            self._report(exc, environ, status)
            raise
        return self._iterate(result, environ, status)

    def _iterate(self, result: Iterable[bytes], environ: Environ, status: list[str]) -> Iterator[bytes]:
        """The body, reporting a crash while it is produced (a streamed answer)."""
        try:
            yield from result
        except Exception as exc:
            self._report(exc, environ, status)
            raise
        finally:
            close = getattr(result, "close", None)  # the WSGI protocol's optional close()
            if close is not None:
                close()

    def _report(self, exc: Exception, environ: Environ, status: list[str]) -> None:
        route = None
        if self.route_of is not None:
            route = self.route_of(environ)
        context = RequestContext(route=route, http_method=method_name(environ.get("REQUEST_METHOD")),
                                 status_code=status_of(status[-1]) if status else 500)
        header = environ.get(self.web.environ_key) if self.web.environ_key else None
        self.web.report(exc, environ, context, header_value=header)
