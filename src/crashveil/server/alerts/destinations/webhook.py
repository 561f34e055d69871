"""Signed JSON webhooks, and :func:`verify_webhook` for the receivers.

The body is the notification as JSON (:func:`notification_json`). Each request carries
``X-Crashveil-Timestamp`` (Unix seconds) and ``X-Crashveil-Signature: v1=<hex>``, the
HMAC-SHA256 of ``timestamp + "." + body`` under the destination's secret, the way Stripe and
Slack sign: the timestamp is signed, so a captured request replayed later is refused by a
receiver that checks it (``tolerance_s``), and the body cannot be changed without the secret.
Several ``v1=`` values separated by commas are accepted, which lets a receiver verify during
a secret rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from crashveil.errors import WebhookSignatureError
from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S, check_http_url, post_json
from crashveil.server.alerts.notification import DeliveryResult, Notification

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookDestination", "notification_json", "sign",
           "verify_webhook"]

TIMESTAMP_HEADER = "X-Crashveil-Timestamp"
SIGNATURE_HEADER = "X-Crashveil-Signature"
#: The version of the body's layout (``"version"``) and of the signature scheme (``v1=``).
PAYLOAD_VERSION = 1


def notification_json(notification: Notification) -> bytes:
    """The webhook body: the notification's fields, ``occurred_at`` in ISO 8601 (UTC)."""
    return json.dumps({
        "type": "crashveil.alert", "version": PAYLOAD_VERSION,
        "project_id": notification.project_id, "rule": notification.rule,
        "dedupe_key": notification.dedupe_key, "title": notification.title,
        "summary": notification.summary, "link": notification.link,
        "occurred_at": notification.occurred_at.isoformat(),
        "fields": dict(notification.fields),
    }, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``v1=`` signature value of ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_webhook(secret: str | bytes, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = 300,
                   now: float | None = None) -> None:
    """Check a request crashveil sent: raises :class:`WebhookSignatureError` unless the
    timestamp is within ``tolerance_s`` of ``now`` (Unix seconds; default the clock) and one
    ``v1=`` signature matches ``body`` (the raw bytes received, before any JSON parsing).

    Header names are matched without regard to case. Signatures are compared in constant time.
    """
    stamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if stamp is None or given is None:
        raise WebhookSignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not stamp.strip().isdigit():
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds")
    timestamp = int(stamp.strip())
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise WebhookSignatureError("timestamp outside the tolerance (a replayed or delayed request)")
    expected = sign(secret, timestamp, body).encode()
    matched = False
    for candidate in given.split(","):
        matched |= hmac.compare_digest(expected, candidate.strip().encode())
    if not matched:
        raise WebhookSignatureError("signature does not match")


@dataclass
class WebhookDestination:
    """POSTs each notification to ``url``, signed with ``secret``."""

    name: str
    url: str
    secret: str = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "webhook"

    def __post_init__(self) -> None:
        check_http_url(self.url, destination=self.name)

    def deliver(self, notification: Notification, *, now: float | None = None) -> DeliveryResult:
        body = notification_json(notification)
        timestamp = int(time.time() if now is None else now)
        headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        return post_json(self.url, body, headers, destination=self.name, timeout_s=self.timeout_s).result
