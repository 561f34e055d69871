"""The request context a web crash may carry: route template, method, status, handler name.

Only these four, each a policy field (``default.policy.toml``: ``route``, ``http_method``,
``status_code``, ``handler``), and only where the consent level allows it. Never the URL
(its path holds ids and names), the query string, headers, cookies, the body or the
client's address: nothing here reads them. The route is the *template* the application
declared (``/users/{id}``, Django's ``users/<int:pk>/``, Flask's ``/users/<int:id>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RequestContext", "method_name", "handler_name", "status_of"]

_METHOD_RE = re.compile(r"[A-Z]{1,16}")
_NAME_MAX = 256


@dataclass(frozen=True)
class RequestContext:
    """What a web integration knows of the request that crashed (raw, redacted when built)."""

    route: str | None = None
    http_method: str | None = None
    status_code: int | None = None
    handler: str | None = None

    def fields(self) -> tuple[tuple[str, str | int], ...]:
        """The set values as ``(report field, value)`` pairs (``CrashRecord.context``)."""
        pairs: list[tuple[str, str | int]] = []
        if self.route:
            pairs.append(("route", self.route[:_NAME_MAX]))
        if self.http_method:
            pairs.append(("http_method", self.http_method))
        if self.status_code is not None:
            pairs.append(("status_code", self.status_code))
        if self.handler:
            pairs.append(("handler", self.handler[:_NAME_MAX]))
        return tuple(pairs)


def method_name(raw: object) -> str | None:
    """``GET``, ``POST`` ...; anything that is not a short upper-case word is ``OTHER``."""
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if not isinstance(raw, str) or not raw:
        return None
    method = raw.upper()
    return method if _METHOD_RE.fullmatch(method) else "OTHER"


def handler_name(func: Callable[..., object] | None) -> str | None:
    """``module.qualname`` of the function (or class) that answered the request."""
    if func is None:
        return None
    target = getattr(func, "view_class", None) or func  # Django's class-based views
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if not isinstance(name, str):
        name = type(target).__qualname__
    return f"{module}.{name}" if isinstance(module, str) and module else name


def status_of(value: object) -> int | None:
    """An HTTP status as an int in 100..599, else None."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    try:
        status = int(value.split(" ", 1)[0]) if isinstance(value, str) else value
    except ValueError:
        return None
    return status if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599 else None
