"""New groups and regressions, seen by the report write path, queued as alerts in the same
transaction (``storage.reports`` calls :func:`enqueue_group_events` after a batch's groups
are written). Cheap when nothing happened: nothing is read unless the batch made a new
group or reopened a resolved one, and then one query finds the projects' rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from crashveil.server.alerts.notification import FieldValue
from crashveil.server.alerts.outbox import Incident, enqueue
from crashveil.server.alerts.rules import rules_for

__all__ = ["GroupEvent", "enqueue_group_events", "group_link", "group_title"]


@dataclass(frozen=True)
class GroupEvent:
    """A group seen for the first time (``new_group``) or again after a resolve (``regression``)."""

    kind: str
    project_id: str
    group_id: int
    crash_type: str
    title_message: str | None
    release: str | None
    #: The policy field ``environment``, coarsened to the OS family.
    os_family: str | None
    deployment: str | None
    platform: str | None
    at: datetime
    total_count: int


def group_title(crash_type: str, title_message: str | None) -> str:
    """A group's title as the triage list shows it: the type and the (redacted) message template."""
    return f"{crash_type}: {title_message}" if title_message else crash_type


def group_link(base_url: str, project_id: str, group_id: int) -> str:
    return f"{base_url.rstrip('/')}/p/{project_id}/groups/{group_id}"


def enqueue_group_events(conn: Connection, events: Sequence[GroupEvent], *, base_url: str) -> int:
    """Queue an alert for each event and each rule of its project and kind; rows made."""
    if not events:
        return 0
    rules = rules_for(conn, sorted({event.project_id for event in events}), ("new_group", "regression"))
    made = 0
    for rule in rules:
        for event in events:
            if event.project_id == rule.project_id and event.kind == rule.kind:
                made += enqueue(conn, rule, _incident(event, base_url), now=event.at)
    return made


def _incident(event: GroupEvent, base_url: str) -> Incident:
    fields: dict[str, FieldValue] = {"crash_type": event.crash_type}
    for name, value in (("release", event.release), ("environment", event.os_family),
                        ("deployment", event.deployment), ("platform", event.platform)):
        if value:
            fields[name] = value
    summary = ("A new crash group appeared." if event.kind == "new_group"
               else f"A resolved crash group was seen again ({event.total_count} reports in all).")
    return Incident(event.project_id, event.kind, f"g{event.group_id}",
                    group_title(event.crash_type, event.title_message), summary,
                    group_link(base_url, event.project_id, event.group_id), event.at, event.group_id, fields)
