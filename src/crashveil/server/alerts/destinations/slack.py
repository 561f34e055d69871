"""Slack incoming webhooks (and the compatible ones: Mattermost, Rocket.Chat take ``text``).

The message has a ``text`` fallback (shown in notifications) and blocks: a header with the
title (``plain_text``), the summary and the forwarded fields (``mrkdwn``), and a button to the
dashboard. Every crash string, the header's too, is made inert by :func:`slack_inert`:
``<!channel>`` arrives as ``&lt;!channel&gt;``. The webhook URL is the credential: it is stored sealed, and never shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S, check_http_url, post_json
from crashveil.server.alerts.destinations.inert import slack_inert
from crashveil.server.alerts.notification import DeliveryResult, Notification

__all__ = ["SlackDestination", "slack_payload"]

#: Slack's limits: a header's text, a section's text, the fields shown.
_HEADER_MAX = 150
_TEXT_MAX = 2900
_VALUE_MAX = 200
_FIELDS_MAX = 10


def slack_payload(notification: Notification) -> dict[str, object]:
    """The incoming-webhook JSON for ``notification``."""
    title = slack_inert(notification.title, 300)
    summary = slack_inert(notification.summary, 1000)
    lines = [f"*{slack_inert(name, 64)}*: {slack_inert(value, _VALUE_MAX)}"
             for name, value in sorted(notification.fields.items())[:_FIELDS_MAX]]
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": slack_inert(notification.title, _HEADER_MAX),
                                    "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{slack_inert(notification.rule, 32)}: {summary}"[
            :_TEXT_MAX]}},
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:_TEXT_MAX]}})
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open in crashveil"}, "url": notification.link}]})
    return {"text": f"crashveil: {title}: {summary}"[:_TEXT_MAX], "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}


@dataclass
class SlackDestination:
    """Posts each notification to a Slack incoming webhook ``url``."""

    name: str
    url: str = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "slack"

    def __post_init__(self) -> None:
        check_http_url(self.url, destination=self.name)

    def deliver(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(slack_payload(notification), ensure_ascii=False).encode()
        return post_json(self.url, body, {}, destination=self.name, timeout_s=self.timeout_s).result
