"""The forwarding filter: what one destination may see of a notification, by the policy.

:func:`filter_for` runs at send time, on every notification, for every destination: it keeps
only the fields the destination's ``[forwarding.NAME]`` entry names (each forwardable by the
loader's rules), keeps the group's title only if the entry says ``title = true`` (else the
title is made of the forwarded crash type alone), and redacts every text again with the
policy's detectors. A destination the policy does not name gets nothing (ForwardingRefused).

:func:`forwarding_entries` and :func:`forwarding_table` list the same entries for the audit
report (``governance.audit_report``): each destination, its kind, purpose, fields and review.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from crashveil.errors import ForwardingRefused
from crashveil.policy.model import Policy
from crashveil.redact import Redactor
from crashveil.server.alerts.notification import FieldValue, Notification

__all__ = ["filter_for", "forwarding_entries", "forwarding_table", "RULE_WORDS"]

#: A title for each rule kind when the group's own title may not be forwarded.
RULE_WORDS = {"new_group": "New crash", "regression": "Crash came back", "spike": "Crash spike",
              "crash_free_rate": "Crash-free rate below threshold", "digest": "Alerts held during quiet hours"}
#: The longest text forwarded (a title, a summary, a value).
MAX_TEXT = 500


def filter_for(policy: Policy, destination_name: str, notification: Notification) -> Notification:
    """``notification`` as destination ``destination_name`` may receive it.

    Raises:
        ForwardingRefused: the policy has no forwarding entry of that name.
    """
    rule = policy.forwarding.get(destination_name)
    if rule is None:
        raise ForwardingRefused(destination_name)
    redactor = _redactor(policy.redaction.detectors, tuple(sorted(policy.redaction.placeholders.items())))
    fields: dict[str, FieldValue] = {}
    for name in rule.fields:
        value = notification.fields.get(name)
        if isinstance(value, bool) or value is None:
            continue
        fields[name] = _clean(redactor, value) if isinstance(value, str) else value
    if rule.title:
        title = _clean(redactor, notification.title)
    else:
        words = RULE_WORDS.get(notification.rule, "Crash alert")
        crash_type = fields.get("crash_type")
        title = f"{words}: {crash_type}" if isinstance(crash_type, str) and crash_type else words
    return dataclasses.replace(notification, title=title, summary=_clean(redactor, notification.summary),
                               fields=fields)


def _clean(redactor: Redactor, text: str) -> str:
    """Redacted (whole: a cut first could split a value the detectors would catch), on one
    line, at most :data:`MAX_TEXT` characters."""
    one_line = " ".join(redactor.redact(text).split())
    return one_line[:MAX_TEXT]


@functools.lru_cache(maxsize=16)
def _redactor(detectors: tuple[str, ...], placeholders: tuple[tuple[str, str], ...]) -> Redactor:
    return Redactor(detectors, dict(placeholders))


def forwarding_entries(policy: Policy) -> list[dict[str, Any]]:
    """The policy's destinations as plain JSON-able values, by name (the audit report's data)."""
    return [{"name": rule.name, "kind": rule.kind, "purpose": rule.purpose, "fields": list(rule.fields),
             "title": rule.title, "review": rule.review}
            for _, rule in sorted(policy.forwarding.items())]


def forwarding_table(entries: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the audit report's destinations table; no rows: nothing is forwarded."""
    return (["destination", "kind", "receives", "title", "purpose", "review"],
            [[e["name"], e["kind"], ", ".join(e["fields"]) or "(counts and a link only)", e["title"], e["purpose"],
              e["review"]] for e in entries])
