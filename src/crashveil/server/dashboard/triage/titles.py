"""Who sees which part of a group's title: by the policy's field access, never by a list here.

A title is ``type: message template — culprit``. The exception type is ``crash_type``;
the culprit (and the in-app modules the search looks at) come from the stack, so they are
shown, and searched, only for roles the policy lets read ``stack``; the message template
comes from ``message`` (exceptions) or ``message_template`` (logged messages, the Sentry
bridge), so it is shown, and searched, only for roles that may read both, and only while
the template is within the shorter of their retentions (``title_message_at``). Where the
policy lets every reader of a title read templates (``sentry.mapping.messages.
template_may_title``), that is every role that sees the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crashveil.policy.model import Policy
from crashveil.server.governance.principals import visible_fields

__all__ = ["MESSAGE_FIELDS", "TitleRules", "shown_message", "title_rules"]

#: The policy fields a group's message template may come from.
MESSAGE_FIELDS = ("message", "message_template")


@dataclass(frozen=True)
class TitleRules:
    """What of a title the signed-in roles see.

    Attributes:
        culprit: the culprit and in-app modules (the ``stack`` field).
        message_since: templates seen at or after this moment are shown; ``None``: none is.
    """

    culprit: bool
    message_since: datetime | None

    @property
    def message(self) -> bool:
        return self.message_since is not None


def title_rules(policy: Policy, roles: Iterable[str], *, now: datetime) -> TitleRules:
    """The :class:`TitleRules` of ``roles`` under ``policy`` at ``now``."""
    visible = set(visible_fields(policy, roles))
    since = None
    if all(name in visible for name in MESSAGE_FIELDS):
        days = min(policy.fields[name].retention_days for name in MESSAGE_FIELDS)
        since = now - timedelta(days=days)
    return TitleRules(culprit="stack" in visible, message_since=since)


def shown_message(rules: TitleRules, template: str | None, seen_at: datetime | None) -> str | None:
    """A group's message template as ``rules`` let it be shown (``None``: hidden or none)."""
    if rules.message_since is None or template is None or seen_at is None or seen_at < rules.message_since:
        return None
    return template
