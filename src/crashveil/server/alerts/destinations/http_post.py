"""One HTTP POST of a JSON body, mapped to a :class:`DeliveryResult`.

Redirects are not followed (a 3xx is a failure the operator must fix: following one would
send the payload, and a tracker's token, somewhere nobody configured); only ``http`` and
``https`` URLs are accepted; certificates are verified. ``timeout_s`` bounds the connection
and each read. How outcomes map: 2xx ok; 408, 429 and 5xx retryable (``Retry-After`` read as
seconds or an HTTP date); other statuses not retryable; a connection failure or a timeout
retryable. ``detail`` names the status or the failure, never the response body.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from crashveil import __version__
from crashveil.errors import DestinationError
from crashveil.server.alerts.notification import DeliveryResult

__all__ = ["DEFAULT_TIMEOUT_S", "HttpAnswer", "check_http_url", "check_token", "post_json", "retry_after_seconds"]

DEFAULT_TIMEOUT_S = 10.0
#: The most of a response body read (a tracker's answer names the issue); the rest is dropped.
_MAX_ANSWER = 64 * 1024
#: A Retry-After longer than this is taken as this (a day): a typo must not park an outbox.
_MAX_RETRY_AFTER_S = 86_400.0
USER_AGENT = f"crashveil/{__version__}"


@dataclass(frozen=True)
class HttpAnswer:
    """The delivery result, and a successful answer's JSON body (for a tracker's issue number)."""

    result: DeliveryResult
    body: bytes = b""

    def json_field(self, name: str) -> str | None:
        """``name`` of a JSON object body as text, or None (no body, not JSON, no such field)."""
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        value = parsed.get(name) if isinstance(parsed, dict) else None
        return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def check_http_url(url: str, *, destination: str, setting: str = "url") -> str:
    """``url`` if it is an absolute http(s) URL with a host, else :class:`DestinationError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationError(f"destination {destination!r}: {setting} must be an http:// or https:// URL "
                               f"with a host")
    return url


def check_token(token: str, *, destination: str, setting: str = "token") -> str:
    """``token`` if it can go in a header: not empty, no space or control character."""
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise DestinationError(f"destination {destination!r}: {setting} is empty or holds spaces or "
                               f"control characters")
    return token


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: object, code: int, msg: str,
                         headers: Message, newurl: str) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects())


def post_json(url: str, body: bytes, headers: Mapping[str, str], *, destination: str,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> HttpAnswer:
    """POST ``body`` (JSON) to ``url`` once; never raises for a delivery failure."""
    check_http_url(url, destination=destination)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status = int(response.status)
            answer = response.read(_MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpAnswer(_from_status(int(exc.code), exc.headers))
    except TimeoutError:
        return HttpAnswer(DeliveryResult(ok=False, status=None, detail="timed out", retryable=True))
    except urllib.error.URLError as exc:
        reason = exc.reason
        name = type(reason).__name__ if isinstance(reason, BaseException) else "error"
        if isinstance(reason, TimeoutError):
            return HttpAnswer(DeliveryResult(ok=False, status=None, detail="timed out", retryable=True))
        return HttpAnswer(DeliveryResult(ok=False, status=None, detail=f"connection failed ({name})", retryable=True))
    except OSError as exc:  # a reset while reading the answer, an SSL error after connecting
        return HttpAnswer(DeliveryResult(ok=False, status=None, detail=f"connection failed ({type(exc).__name__})",
                                         retryable=True))
    if 200 <= status < 300:
        return HttpAnswer(DeliveryResult(ok=True, status=status, detail=f"HTTP {status}", retryable=False), answer)
    return HttpAnswer(_from_status(status, None))


def _from_status(status: int, headers: Message | None) -> DeliveryResult:
    """A non-2xx status as a result: 408, 429 and 5xx retryable, the rest not."""
    if 300 <= status < 400:
        return DeliveryResult(ok=False, status=status, detail=f"HTTP {status}: redirect not followed",
                              retryable=False)
    retryable = status in (408, 429) or status >= 500
    wait = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
    return DeliveryResult(ok=False, status=status, detail=f"HTTP {status}", retryable=retryable,
                          retry_after_s=wait if retryable else None)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header (delay-seconds or an HTTP date) in seconds, or None when absent
    or unreadable; never negative, at most a day."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), _MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)
