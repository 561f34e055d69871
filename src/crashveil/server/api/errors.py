"""The API's one map from exceptions to JSON errors ``{"error": code, "detail": text}``.

Details are written by us (they name the parameter, field or scope and the form expected);
they never echo request values or report content.

==========================  ======  ======================  ===============================
exception                   status  code                    also
==========================  ======  ======================  ===============================
``TokenRefused``            401     ``unauthorized``        ``WWW-Authenticate: Bearer``
``ScopeMissing``            403     ``insufficient_scope``  ``WWW-Authenticate`` names it
``NotVisible``/``NotFound``  404     ``not_found``
``AccessDenied`` (other)    403     ``forbidden``
``BadQueryParameter``       400     ``bad_parameter``
``BadApiInput``             400     ``bad_body``
``PreconditionFailed``      412     ``precondition_failed``
``StorageError``            503     ``storage_unavailable``  ``Retry-After``
==========================  ======  ======================  ===============================

Anything else is a bug and goes on to the app's own handler (500, logged without its text).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crashveil.errors import (
    AccessDenied,
    BadApiInput,
    BadQueryParameter,
    NotFound,
    NotVisible,
    PreconditionFailed,
    ScopeMissing,
    StorageError,
    TokenRefused,
)
from crashveil.server.http.errors import STORAGE_RETRY_AFTER_S

__all__ = ["CHALLENGE", "api_error", "json_errors"]

#: The ``WWW-Authenticate`` challenge of a 401 (RFC 6750).
CHALLENGE = 'Bearer realm="crashveil-api"'

Endpoint = Callable[[Request], Awaitable[Response]]


def api_error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error answer (never cached)."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _answer(exc: Exception) -> JSONResponse | None:
    if isinstance(exc, TokenRefused):
        return api_error(401, "unauthorized", "a valid bearer token is needed", {"WWW-Authenticate": CHALLENGE})
    if isinstance(exc, ScopeMissing):
        challenge = f'{CHALLENGE}, error="insufficient_scope", scope="{exc.scope}"'
        return api_error(403, "insufficient_scope", str(exc), {"WWW-Authenticate": challenge})
    if isinstance(exc, NotVisible | NotFound):
        return api_error(404, "not_found", "no such object")
    if isinstance(exc, AccessDenied):
        return api_error(403, "forbidden", str(exc))
    if isinstance(exc, BadQueryParameter):
        return api_error(400, "bad_parameter", str(exc))
    if isinstance(exc, BadApiInput):
        return api_error(400, "bad_body", str(exc))
    if isinstance(exc, PreconditionFailed):
        return api_error(412, "precondition_failed", str(exc))
    if isinstance(exc, StorageError):
        return api_error(503, "storage_unavailable", "the database is not available; retry later",
                         {"Retry-After": str(STORAGE_RETRY_AFTER_S)})
    return None


def json_errors(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with the errors above answered as JSON."""
    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            answer = _answer(exc)
            if answer is None:
                raise
            return answer

    return wrapped
