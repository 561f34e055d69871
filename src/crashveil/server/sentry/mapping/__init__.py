"""Sentry event -> crashveil report, by allowlist (``event.py`` says what is read and how).

Modules by job: ``event`` the whole event; ``exceptions`` crash type, chain and mechanism;
``frames`` stacks and app-relative paths; ``messages`` message and logging events;
``contexts`` OS, runtime and device; ``scope`` release, tags, grouping, user, breadcrumbs;
``times`` ids and timestamps; ``read`` safe readers and the drop reasons; ``grouping``
the fingerprint of a stored report.
"""

from __future__ import annotations

from crashveil.errors import EventSkipped
from crashveil.server.sentry.mapping.event import DROPPABLE_PATHS, MappedEvent, event_to_report
from crashveil.server.sentry.mapping.grouping import with_fingerprint
from crashveil.server.sentry.mapping.read import (
    DROP_REASONS,
    LEVEL_TOO_LOW,
    MALFORMED,
    NOT_ALLOWLISTED,
    REDACTED,
    TOO_LARGE,
)
from crashveil.server.sentry.mapping.times import normalize_event_id, parse_timestamp, report_id_for

__all__ = [
    "DROPPABLE_PATHS", "DROP_REASONS", "LEVEL_TOO_LOW", "MALFORMED", "NOT_ALLOWLISTED", "REDACTED", "TOO_LARGE",
    "EventSkipped", "MappedEvent", "event_to_report", "normalize_event_id", "parse_timestamp", "report_id_for",
    "with_fingerprint",
]
