"""Signed JSON webhooks.

The body is the notification as JSON (:func:`notification_json`), signed as
:mod:`crashveil.webhooks` describes (HMAC-SHA256 over ``timestamp.body``, the headers
``X-Crashveil-Timestamp`` and ``X-Crashveil-Signature: v1=<hex>``); receivers check it with
:func:`crashveil.webhooks.verify_webhook` (re-exported here), which needs no server extra.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S, check_http_url, post_json
from crashveil.server.alerts.notification import DeliveryResult, Notification
from crashveil.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_webhook

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookDestination", "notification_json", "sign",
           "verify_webhook"]

#: The version of the body's layout (``"version"``); the signature scheme's is its ``v1=``.
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
