"""The alert outbox: an incident becomes one pending row per destination of each rule it
matches, in the caller's transaction (no network there); the worker sends them.

Deduplication is the unique ``(project_id, destination, dedupe_key)``: the key names the
rule, the kind, the subject (a group or a release) and, except for a new group (new once),
the deduplication window the incident falls in. A second sighting of the same incident
inserts nothing. Quiet hours: a row made while the rule is quiet is ``held`` and due when
the window ends; the worker then merges the held rows of a rule and destination into one
(digest) or keeps the latest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection

from crashveil.server.alerts.notification import FieldValue
from crashveil.server.alerts.rules import AlertRule
from crashveil.server.alerts.tables import alert_outbox
from crashveil.server.db import engine as db

__all__ = ["PENDING", "SENT", "FAILED", "MERGED", "Incident", "dedupe_key", "enqueue"]

PENDING, SENT, FAILED, MERGED = "pending", "sent", "failed", "merged"


@dataclass(frozen=True)
class Incident:
    """Something a rule reacts to, at group (or release) level only: never a report.

    ``subject``: ``g<group id>`` or ``r<release>``. ``title`` comes from the group's stored,
    redacted title; ``fields`` are group-level values of forwardable policy fields.
    """

    project_id: str
    kind: str
    subject: str
    title: str
    summary: str
    link: str
    occurred_at: datetime
    group_id: int | None = None
    fields: Mapping[str, FieldValue] = field(default_factory=dict)


def dedupe_key(rule: AlertRule, incident: Incident) -> str:
    """One incident, one key: a new group once per rule; the rest once per window."""
    base = f"r{rule.id}:{incident.kind}:{incident.subject}"[:180]
    if incident.kind == "new_group":
        return base
    return f"{base}:{int(incident.occurred_at.timestamp() // rule.dedupe_window_s)}"


def enqueue(conn: Connection, rule: AlertRule, incident: Incident, *, now: datetime) -> int:
    """Queue ``incident`` for each destination of ``rule``; how many rows were new."""
    release = rule.quiet.release_at(now) if rule.quiet is not None else None
    key = dedupe_key(rule, incident)
    rows = [dict(project_id=incident.project_id, rule_id=rule.id, destination=destination, dedupe_key=key,
                 kind=incident.kind, group_id=incident.group_id, title=incident.title[:600],
                 summary=incident.summary[:600], link=incident.link[:600],
                 fields=json.dumps(dict(incident.fields), sort_keys=True), occurred_at=incident.occurred_at,
                 held=release is not None, state=PENDING, attempts=0, due_at=release or now, created_at=now)
            for destination in rule.destinations]
    inserted = 0
    for row in rows:
        statement = db.dialect_insert(conn, alert_outbox).on_conflict_do_nothing(
            index_elements=["project_id", "destination", "dedupe_key"])
        inserted += conn.execute(statement.values(**row)).rowcount
    return inserted
