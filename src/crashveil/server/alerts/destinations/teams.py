"""Microsoft Teams incoming webhooks (Workflows), as an Adaptive Card message.

Crash strings go into ``TextRun`` elements of ``RichTextBlock``: a text run is plain text
(Teams renders no Markdown in it), so a title cannot make a link, emphasis or an image; it is
still defanged (mentions, bare URLs) and kept on one line. The dashboard link is an
``Action.OpenUrl``. The webhook URL is the credential: stored sealed, never shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S, check_http_url, post_json
from crashveil.server.alerts.destinations.inert import plain_inert
from crashveil.server.alerts.notification import DeliveryResult, Notification

__all__ = ["TeamsDestination", "teams_payload"]

_VALUE_MAX = 200
_FIELDS_MAX = 10


def _runs(*texts: tuple[str, bool]) -> dict[str, object]:
    """One ``RichTextBlock`` of plain text runs, ``(text, bold)``."""
    return {"type": "RichTextBlock", "inlines": [
        {"type": "TextRun", "text": text, **({"weight": "Bolder"} if bold else {})} for text, bold in texts]}


def teams_payload(notification: Notification) -> dict[str, object]:
    """The webhook JSON: a ``message`` with one Adaptive Card attachment."""
    body: list[dict[str, object]] = [
        _runs((plain_inert(notification.title, 300), True)),
        _runs((f"{plain_inert(notification.rule, 32)}: {plain_inert(notification.summary, 1000)}", False)),
    ]
    for name, value in sorted(notification.fields.items())[:_FIELDS_MAX]:
        body.append(_runs((f"{plain_inert(name, 64)}: ", True), (plain_inert(value, _VALUE_MAX), False)))
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": "Open in crashveil", "url": notification.link}]}
    return {"type": "message", "summary": plain_inert(notification.title, 150),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


@dataclass
class TeamsDestination:
    """Posts each notification to a Teams incoming webhook ``url``."""

    name: str
    url: str = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "teams"

    def __post_init__(self) -> None:
        check_http_url(self.url, destination=self.name)

    def deliver(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(teams_payload(notification), ensure_ascii=False).encode()
        return post_json(self.url, body, {}, destination=self.name, timeout_s=self.timeout_s).result
