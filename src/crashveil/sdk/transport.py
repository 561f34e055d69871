"""Getting sealed bytes to the server: the ``Transport`` protocol and ``HttpsTransport``.

``HttpsTransport`` speaks the contract in :mod:`crashveil.wire.protocol` over stdlib
``http.client`` + ``ssl`` with mutual TLS:

- TLS 1.2 at least (1.3 is preferred by OpenSSL when both ends have it);
- the server certificate must chain to the CA pinned in the connection string, and only to
  it (``ssl.create_default_context(cadata=...)`` loads no system store when given CA data);
- the host name (or IP address) in the connection string must match the certificate;
- an optional client certificate and key (mutual TLS);
- there is no plain-HTTP code path at all.

``ssl`` and ``http.client`` are imported on first use, never when this module is imported,
so ``import crashveil`` stays light (DESIGN section 5).

Every failure to talk to the server (DNS, refused, reset, timeout, TLS handshake, a
malformed response) is ``SendResult(status=0)``: the sender keeps the item and backs off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from crashveil.wire import protocol

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    from crashveil.wire.protocol import ConnectionString

__all__ = [
    "RETRY_AFTER_DEFAULT_S",
    "RETRY_AFTER_MAX_S",
    "RETRY_AFTER_MIN_S",
    "HttpsTransport",
    "SendResult",
    "Transport",
    "parse_retry_after",
]

RETRY_AFTER_MIN_S = 1.0
RETRY_AFTER_MAX_S = 300.0  # as Relay's max_rate_limit: a hostile header cannot park us for days
RETRY_AFTER_DEFAULT_S = 60.0  # 429/503 without a usable Retry-After
_MAX_RESPONSE_BYTES = 64 * 1024
_KINDS = ("report", "deletion", "adoption", "feedback")
_PATHS = {"report": protocol.reports_path, "deletion": protocol.deletion_path, "adoption": protocol.adoption_path,
          "feedback": protocol.feedback_path}


@dataclass(frozen=True)
class SendResult:
    """What the server said: HTTP ``status`` (0 = no answer), its receipt, and how long to wait.

    ``retry_after_s`` is set from ``Retry-After`` (clamped to [1, 300] s) whenever the
    server sent one, and is 60 s on 429/503 without one.
    """

    status: int
    receipt: str | None = None
    retry_after_s: float | None = None


class Transport(Protocol):
    """What the sender needs from a transport. ``crashveil.testing`` records instead of sending."""

    def send(self, kind: str, sealed: bytes) -> SendResult:
        """Send one sealed item: ``kind`` ``"report"``, ``"deletion"``, ``"adoption"`` or ``"feedback"``."""
        ...

    def fetch_config(self) -> bytes | None:
        """The signed remote-config document, or ``None`` if it could not be fetched."""
        ...


def parse_retry_after(value: str | None, status: int, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value; never raises.

    Accepts delta-seconds (``120``, also ``2.5``) or an HTTP date. The result is clamped to
    [1, 300] s: a date in the past, ``0`` or a negative number give 1 s; ``1e309`` or
    ``999999999`` give 300 s. Missing or unparseable (including NaN) gives 60 s on 429 and
    503 and ``None`` otherwise.
    """
    seconds = _retry_after_seconds(value, now) if value is not None else None
    if seconds is None:
        return RETRY_AFTER_DEFAULT_S if status in (429, 503) else None
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


def _retry_after_seconds(value: str, now: float) -> float | None:
    text = value.strip()
    if not text or len(text) > 100:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else seconds
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is garbage
        return None
    try:
        return when.timestamp() - now
    except (OverflowError, ValueError, OSError):
        return None


class HttpsTransport:
    """Sends sealed items over HTTPS with mutual TLS to the server in a connection string.

    Args:
        connection: the parsed connection string (server, project, pinned CA).
        client_cert: path to the client certificate (PEM), for mutual TLS.
        client_key: path to its private key (PEM); defaults to inside ``client_cert``.
        timeout_s: connect and read timeout of each request.
        now: the clock used to turn a ``Retry-After`` date into seconds.
    """

    def __init__(self, connection: ConnectionString, *, client_cert: str | None = None,
                 client_key: str | None = None, timeout_s: float = 5.0, now: Any = None) -> None:
        import time

        self.connection = connection
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout_s = timeout_s
        self._now = now or time.time
        self._context: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS client context, built once: pinned CA only, TLS >= 1.2, host name checked."""
        if self._context is None:
            import ssl

            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.connection.ca_der)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
            if self.client_cert:
                context.load_cert_chain(self.client_cert, self.client_key)
            self._context = context
        return self._context

    def send(self, kind: str, sealed: bytes) -> SendResult:
        """POST one sealed item; never raises for network trouble (status 0 instead)."""
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}")
        path = _PATHS[kind](self.connection.project)
        from crashveil.wire.report import SCHEMA_VERSION

        headers = {
            "Content-Type": protocol.SEALED_CONTENT_TYPE,
            protocol.SCHEMA_HEADER: str(SCHEMA_VERSION),
            "Accept": "application/json",
        }
        answer = self._request("POST", path, bytes(sealed), headers)
        if answer is None:
            return SendResult(status=0)
        status, retry_after, body = answer
        receipt = _receipt(body) if 200 <= status < 300 else None
        return SendResult(status=status, receipt=receipt,
                          retry_after_s=parse_retry_after(retry_after, status, now=self._now()))

    def fetch_config(self) -> bytes | None:
        """GET the signed remote config; ``None`` unless the server answered 200."""
        answer = self._request("GET", protocol.config_path(self.connection.project), None,
                               {"Accept": "application/json"})
        if answer is None or answer[0] != 200:
            return None
        return answer[2]

    def fetch_feedback_replies(self, handles: list[str]) -> bytes | None:
        """GET the replies to the feedback of ``handles`` (``sdk/consent/feedback.py``); ``None`` unless 200."""
        header = " ".join(handles[:protocol.MAX_REPLY_HANDLES])
        answer = self._request("GET", protocol.feedback_replies_path(self.connection.project), None,
                               {"Accept": "application/json", protocol.REPLY_HANDLES_HEADER: header})
        if answer is None or answer[0] != 200:
            return None
        return answer[2]

    def _request(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[int, str | None, bytes] | None:
        """``(status, Retry-After, body)`` or ``None`` when there was no usable answer."""
        import http.client
        import ssl

        try:
            context = self.ssl_context()
        except (ssl.SSLError, OSError):
            return None  # an unreadable client certificate: nothing can be sent, keep the item
        connection = http.client.HTTPSConnection(
            self.connection.host, self.connection.port, context=context, timeout=self.timeout_s)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(_MAX_RESPONSE_BYTES + 1)
            if len(data) > _MAX_RESPONSE_BYTES:
                data = b""
            elif response.length:
                # The connection closed before the promised Content-Length arrived (the server
                # died mid-answer). A 2xx without its receipt is no answer: the item stays
                # queued and its retry gets the same receipt (the server deduplicates).
                return None
            return response.status, response.getheader("Retry-After"), data
        except (OSError, http.client.HTTPException, ValueError):
            # OSError covers ssl.SSLError, timeouts, refused and reset connections.
            return None
        finally:
            connection.close()


def _receipt(body: bytes) -> str | None:
    """The ``receipt`` (report) or ``request_id`` (deletion) of a 2xx JSON body, if any."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("receipt", "request_id"):
        value = data.get(key)
        if isinstance(value, str) and 0 < len(value) <= 200:
            return value
    return None
