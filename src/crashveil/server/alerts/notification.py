"""What an alert hands to a destination, and what a destination answers.

A :class:`Notification` never carries an individual report: only a group's redacted title,
counts, and the fields the policy marks forwardable for that destination. It is redacted
again right before it is sent (the forwarding filter), so a destination sees nothing the
policy did not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = ["RULE_KINDS", "Notification", "DeliveryResult", "Destination"]

#: What can make a notification: a group seen for the first time, a resolved group seen
#: again, a spike against the group's baseline, a release's crash-free rate under a threshold.
RULE_KINDS: tuple[str, ...] = ("new_group", "regression", "spike", "crash_free_rate")

#: A forwarded value: text (already redacted), a count or a rate.
FieldValue = str | int | float


@dataclass(frozen=True)
class Notification:
    """One alert for one destination."""

    project_id: str
    #: One of :data:`RULE_KINDS`.
    rule: str
    #: One incident, one notification: deliveries with the same key are sent once.
    dedupe_key: str
    #: The group's (or release's) title as the destination may see it, redacted.
    title: str
    #: One line in words, counts only ("12 events from 5 installations in the last hour").
    summary: str
    #: Where a team member signs in to see more (the dashboard's group or release page).
    link: str
    occurred_at: datetime
    #: Forwardable fields only, by policy field name (``release``, ``crash_type``...).
    fields: Mapping[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went. ``detail`` is short and never holds payload content."""

    ok: bool
    status: int | None
    detail: str
    #: The destination asked to wait (HTTP 429/503 Retry-After), in seconds.
    retry_after_s: float | None = None
    #: False when retrying cannot help (a 4xx other than 408/429, a refused address).
    retryable: bool = True


class Destination(Protocol):
    """Somewhere notifications go: a webhook, an e-mail address, a chat or an issue tracker."""

    #: The name of its ``[forwarding.NAME]`` entry in the policy.
    name: str
    #: ``webhook``, ``email``, ``slack``, ``teams``, ``github`` or ``gitlab``.
    kind: str

    def deliver(self, notification: Notification) -> DeliveryResult:
        """Send one notification (one attempt, bounded by a timeout); never raises for a
        delivery failure, which the result reports."""
        ...
