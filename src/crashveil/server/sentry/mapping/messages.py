"""Message events: ``capture_message``, logging-integration events and JavaScript
``captureMessage``, which carry a text instead of (or, with ``attachStacktrace``, beside a
synthetic, type-less) exception.

Such an event is titled by its message TEMPLATE: ``logentry.message`` (``"card %s
declined"``), never ``logentry.formatted`` nor ``params`` (the values filled in), which are
dropped. ``capture_message("text")`` and JavaScript's ``captureMessage`` send only the text,
which is then the template. The title becomes the group's name (``crash_type``) only at a
consent level that allows ``message_template``; below it the title is ``Message`` (or
``Message (logger)``), so a level that allows no messages stores no message text; and
only where the policy lets every reader of a title read the template for as long
(:func:`template_may_title`): the shipped policy does not, so its titles stay bare and the
template, kept for developers only, splits the groups instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from crashveil.server.sentry.mapping.read import MALFORMED, NOT_ALLOWLISTED, TOO_LARGE, Dropped, cut, obj, text
from crashveil.wire import LIMITS

if TYPE_CHECKING:
    from crashveil.policy import Policy

__all__ = ["MESSAGE_PATHS", "Severity", "is_message_event", "logger_of", "message_title", "severity_of",
           "template_of"]

Severity = Literal["fatal", "error", "warning", "info", "debug"]
_SEVERITIES: Mapping[str, Severity] = {"fatal": "fatal", "critical": "fatal", "error": "error",
                                       "warning": "warning", "warn": "warning", "info": "info", "log": "info",
                                       "debug": "debug"}
_LOGGER_RE = re.compile(r"^[\w.:/<>-]{1,128}$")
_NAME = LIMITS["max_name_chars"]
_TEXT = LIMITS["max_message_chars"]
#: Every path this module may name as dropped.
MESSAGE_PATHS = frozenset(("logentry.formatted", "logentry.params", "message.formatted", "logger", "level",
                           "message"))


def is_message_event(event: Mapping[str, Any], values: Sequence[Mapping[str, Any]]) -> bool:
    """No exception, or only JavaScript's synthetic one (no ``type``) beside a message."""
    if not values:
        return True
    top = values[-1]
    synthetic = obj(top.get("mechanism")).get("synthetic") is True
    has_text = bool(event.get("logentry") or event.get("message"))
    return not top.get("type") and (synthetic or has_text)


def template_of(event: Mapping[str, Any], values: Sequence[Mapping[str, Any]], dropped: Dropped) -> str | None:
    """The message template (see the module docstring), or ``None`` if the event has none."""
    template = None
    for key in ("logentry", "message"):
        entry = event.get(key)
        if isinstance(entry, str):
            template = template or text(entry)
            continue
        entry = obj(entry)
        found = text(entry.get("message"))
        if entry.get("params"):
            dropped.add(f"{key}.params" if key == "logentry" else "message")
        if entry.get("formatted") is not None:
            if found is None and template is None:
                found = text(entry.get("formatted"))  # no template was sent: the text is all there is
            else:
                dropped.add(f"{key}.formatted")
        template = template or found
    if template is None and values:
        template = text(values[-1].get("value"))  # JavaScript's synthetic exception carries the text
    if template is None or not template.strip():
        return None
    if len(template) > _TEXT:
        dropped.add("message", TOO_LARGE)
    return cut(template.strip(), _TEXT)


def message_title(template: str | None, logger: str | None, allowed: Collection[str], policy: Policy) -> str:
    """The group title of a message event: the template only where the level allows it AND
    the policy lets everyone who sees a group's title see the template, as long (see
    :func:`template_may_title`); else ``Message`` / ``Message (logger)``. The template still
    splits the groups (``policy.fingerprint.grouping_title``) wherever it is kept."""
    if template is not None and "message_template" in allowed and template_may_title(policy):
        return cut(" ".join(template.split()), _NAME)
    return f"Message ({logger})" if logger else "Message"


def template_may_title(policy: Policy) -> bool:
    """A title is the group's ``crash_type``, shown to its readers and kept as long as it: a
    template may be one only if those readers may all read ``message_template`` and the
    template's retention is no shorter. The shipped policy keeps templates for developers,
    30 days, and titles for viewers too, 90 days: titles stay ``Message (logger)`` there."""
    title_rule, template_rule = policy.fields.get("crash_type"), policy.fields.get("message_template")
    if title_rule is None or template_rule is None:
        return False
    return (set(title_rule.access) <= set(template_rule.access)
            and title_rule.retention_days <= template_rule.retention_days)


def severity_of(value: Any, dropped: Dropped) -> Severity | None:
    name = text(value)
    if name is None:
        return None
    found = _SEVERITIES.get(name.lower())
    if found is None:
        dropped.add("level", MALFORMED)
    return found


def logger_of(value: Any, dropped: Dropped) -> str | None:
    """The logger name if it looks like one (``shop.billing``); else dropped."""
    name = text(value)
    if not name:
        return None
    if not _LOGGER_RE.match(name):
        dropped.add("logger", MALFORMED if len(name) <= 128 else TOO_LARGE)
        return None
    return name


def not_allowlisted_message_parts(event: Mapping[str, Any], dropped: Dropped) -> None:
    """An error event's own message text is not mapped (its exception value is)."""
    if event.get("logentry") or event.get("message"):
        dropped.add("message", NOT_ALLOWLISTED)
