"""The one map from exceptions to HTTP answers, and safe logging of attacker text.

Every error leaves the server as JSON ``{"error": code, "field": path, "message": text}``
(bugsink's ``BaseIngestAPIView.post`` is the model: one place decides the status). Messages
are written by us and name the field path and the rule; they never echo submitted values,
because every crash string is attacker-controlled and may hold personal data.

=====================================  ======  ==========================================
exception                              status  code
=====================================  ======  ==========================================
``ReportRejected``                     its own its own (``unknown_project`` 404, ...)
``Throttled`` (a ``ReportRejected``)   429     ``rate_limited``, with ``Retry-After``
``ReportError`` (wire format)          400     its code; ``too_large`` is 413
``SealError``                          400     ``unsealable`` (opaque: no oracle)
``KeyUnavailableError``                503     ``key_unavailable``, ``Retry-After`` (this server lacks a key: its fault)
``StorageError``                       503     ``storage_unavailable``, ``Retry-After``
``AuditTamperedError``                 503     ``audit_unavailable``, ``Retry-After`` (trail behind its checkpoint)
Starlette ``HTTPException``            its own ``not_found``, ``method_not_allowed``, ...
anything else (a bug)                  500     ``internal``; logged without its message
=====================================  ======  ==========================================

4xx mean "drop the report, do not retry"; 429 and 503 mean "keep it, retry after". So a seal
the sender got wrong is 400, but a key *this server* cannot find or unwrap (a KEK set not yet
picked up, a KEK source that failed) is 503: the report is fine and must not be dropped. Its
answer names no key; the ERROR log line and ``/readyz`` (check ``keys``) name the key id.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crashveil.errors import (
    AuditTamperedError,
    KeyUnavailableError,
    ReportError,
    ReportRejected,
    SealError,
    StorageError,
    Throttled,
)
from crashveil.textsafe import visible
from crashveil.wire.report import CONTROL_CHARACTER

#: ``Throttled`` is defined in ``crashveil.errors``; re-exported for ``sentry/routes.py``.
if TYPE_CHECKING:
    from crashveil.server.http.metrics import Metrics

__all__ = ["Handler", "error_response", "handle_error", "log_safe", "timed", "STORAGE_RETRY_AFTER_S"]

Handler = Callable[[Request], Awaitable[Response]]

logger = logging.getLogger("crashveil.server")

#: Seconds a client waits after a 503: long enough for a database restart, short enough that
#: queued crashes are not held for long.
STORAGE_RETRY_AFTER_S = 30

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "body_timeout", 411: "length_required", 413: "too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


def log_safe(text: object, limit: int = 200) -> str:
    """``text`` for a log line: control characters (CR, LF, ANSI ESC ...) escaped, cut to ``limit``."""
    value = str(text)
    if len(value) > limit:
        value = value[:limit] + "..."
    return visible(value)


def _body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": code, "field": field, "message": message}


def error_response(exc: BaseException) -> tuple[Response, str]:
    """The response for ``exc`` and the reason code it counts under."""
    headers: dict[str, str] = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = exc.retry_after
    if isinstance(exc, ReportRejected):
        status, body = exc.status, _body(exc.code, str(exc), exc.field)
    elif isinstance(exc, ReportError):
        # A string with a control or formatting character is well-formed JSON the format
        # refuses on meaning: 422, like the policy checks after it.
        status = 413 if exc.code == "too_large" else 422 if exc.code == CONTROL_CHARACTER[0] else 400
        body = _body(exc.code, str(exc), exc.field or None)
    elif isinstance(exc, KeyUnavailableError):
        status, body = 503, _body("key_unavailable", "this server cannot use a key it needs; keep the report and "
                                                    "retry later")
        headers["Retry-After"] = str(STORAGE_RETRY_AFTER_S)
    elif isinstance(exc, SealError):
        status, body = 400, _body("unsealable", "the body is not a report sealed to this project's key")
    elif isinstance(exc, StorageError):
        status, body = 503, _body("storage_unavailable", "storage is unavailable; keep the report and retry later")
        headers["Retry-After"] = str(STORAGE_RETRY_AFTER_S)
    elif isinstance(exc, AuditTamperedError):
        status, body = 503, _body("audit_unavailable", "the audit trail cannot be written; keep the report and "
                                                      "retry later")
        headers["Retry-After"] = str(STORAGE_RETRY_AFTER_S)
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code = _HTTP_CODES.get(status, "http_error")
        body = _body(code, _message_for(status))
        headers.update(exc.headers or {})
    else:
        status, body = 500, _body("internal", "internal error")
    return JSONResponse(body, status_code=status, headers=headers), body["error"]


def _message_for(status: int) -> str:
    return {404: "no such resource", 405: "method not allowed on this resource"}.get(status, "request refused")


async def handle_error(request: Request, exc: Exception, route: str | None = None) -> Response:
    """Map, count and log ``exc``; never lets attacker text into the log raw.

    ``route`` is the route template (``/api/v1/projects/{project}/reports``), never the raw
    path, which is attacker text; ``None`` for requests that matched no route.
    """
    response, code = error_response(exc)
    metrics = getattr(request.app.state, "metrics", None)
    route = route or "<unmatched>"
    if metrics is not None and route.endswith(("/reports", "/deletion-requests")):
        metrics.rejected.labels(code).inc()
        if isinstance(exc, Throttled):
            metrics.rate_limited.labels(exc.scope).inc()
    if metrics is not None and isinstance(exc, KeyUnavailableError):
        metrics.key_unavailable.inc()
    if isinstance(exc, KeyUnavailableError):
        # keys/faults.py logs the key at ERROR once a minute; one such line per request would flood.
        logger.info("%s %s -> %d %s", request.method, route, response.status_code, code)
    elif response.status_code >= 500:
        where = "".join(traceback.format_tb(exc.__traceback__)) if response.status_code == 500 else ""
        # The exception's message may quote crash content: log its type and our code only.
        logger.error("%s %s -> %d %s (%s)\n%s", request.method, route, response.status_code, code,
                     type(exc).__name__, where)
    else:
        logger.info("%s %s -> %d %s field=%s", request.method, route, response.status_code, code,
                    log_safe(getattr(exc, "field", None)))
    return response


def timed(route: str, handler: Handler, metrics: Metrics, *,
          on_error: Callable[[Request, Exception, Response], None] | None = None) -> Handler:
    """Time ``handler`` under ``route``, and send every exception through the one error map;
    ``on_error`` then sees the exception and its answer (the Sentry routes add their headers)."""
    async def run(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:  # noqa: BLE001 - the HTTP error map is the one place allowed to catch all
            response = await handle_error(request, exc, route)
            if on_error is not None:
                on_error(request, exc, response)
        metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)
        return response
    return run
