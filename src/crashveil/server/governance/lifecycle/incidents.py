"""Privacy incidents: the day a field is found to leak.

``crashveil incident open --field F [--release R ...] --since T --until T --reason TEXT``
records the suspected leak (``privacy_incidents``), stops collection of the field at once
through a field stop (``field_stops.py``: apps stop at their next config fetch, the server
drops it from what arrives meanwhile) and writes ``incident.open`` to the audit trail, all
in one transaction. ``incident purge`` (``purge.py``) removes the field from what was stored;
``incident close`` records the summary (and may lift the stop). The audit report shows a
postmortem per incident (``postmortem.py``).

Scope: the reports of one project (or every project) received in ``[since, until)`` whose
release is one of ``releases`` (every release when none is given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import ConfigError
from crashveil.server.db.engine import read_tx, write_tx
from crashveil.server.db.governance_tables import field_stops, privacy_incidents
from crashveil.server.db.tables import reports
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.lifecycle.field_stops import add_stop, check_stoppable, lift_stop

__all__ = ["Incident", "close_incident", "get_incident", "incident_of_row", "list_incidents", "open_incident",
           "scope_filter", "set_status"]

#: Longest reason or summary kept (they go to the audit trail too).
MAX_TEXT = 1000


@dataclass(frozen=True)
class Incident:
    """One privacy incident as recorded."""

    id: int
    project_id: str | None
    field: str
    releases: tuple[str, ...]
    since: datetime
    until: datetime
    reason: str
    opened_at: datetime
    opened_by: str
    status: str
    closed_at: datetime | None
    summary: str | None

    @property
    def scope(self) -> str:
        """``project:<id>`` or ``all projects``, for messages."""
        return f"project {self.project_id}" if self.project_id else "all projects"


def _text(value: str, option: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        raise ConfigError(option, "is empty, longer than 1000 characters or holds control characters",
                          "one line of text")
    return value


def open_incident(engine: Engine, audit: AuditTrail, *, field: str, project_id: str | None,
                  releases: tuple[str, ...], since: datetime, until: datetime, reason: str, actor: str,
                  now: datetime) -> Incident:
    """Record the incident, stop the field and audit both, in one transaction."""
    check_stoppable(field)
    reason = _text(reason, "--reason")
    if not since < until:
        raise ConfigError("--since", "is not before --until", "a time range since < until")
    for release in releases:
        if not release or len(release) > 128:
            raise ConfigError("--release", "is empty or longer than 128 characters", "a release string")
    with write_tx(engine) as conn:
        key = conn.execute(privacy_incidents.insert().values(
            project_id=project_id, field=field, releases=json.dumps(sorted(set(releases))), since=since,
            until=until, reason=reason, opened_at=now, opened_by=actor, status="open")).inserted_primary_key
        assert key is not None
        incident_id = int(key[0])
        stop_id = add_stop(conn, field, project_id=project_id, source="incident", reason=reason, now=now,
                           incident_id=incident_id)
        audit.record("incident.open", actor=actor, project_id=project_id, subject=f"incident:{incident_id}",
                     detail={"field": field, "releases": sorted(set(releases)), "since": since.isoformat(),
                             "until": until.isoformat(), "reason": reason, "stop": stop_id}, conn=conn)
    audit.checkpoint()
    found = get_incident(engine, incident_id)
    assert found is not None
    return found


def close_incident(engine: Engine, audit: AuditTrail, incident_id: int, *, summary: str, actor: str,
                   now: datetime, lift: bool = False) -> Incident:
    """Close an incident with its summary; ``lift`` also lifts its field stop (collection resumes)."""
    summary = _text(summary, "--summary")
    incident = get_incident(engine, incident_id)
    if incident is None:
        raise ConfigError("ID", f"no incident {incident_id}", "an id from 'crashveil incident list'")
    if incident.status == "closed":
        raise ConfigError("ID", f"incident {incident_id} is already closed", "an open incident")
    with write_tx(engine) as conn:
        conn.execute(privacy_incidents.update().where(privacy_incidents.c.id == incident_id).values(
            status="closed", closed_at=now, summary=summary))
        lifted = 0
        if lift:
            stops = conn.execute(sa.select(field_stops.c.id).where(field_stops.c.incident_id == incident_id)).scalars()
            lifted = lift_stop(conn, list(stops), now=now)
        audit.record("incident.close", actor=actor, project_id=incident.project_id, subject=f"incident:{incident_id}",
                     detail={"field": incident.field, "summary": summary, "stop_lifted": bool(lifted)}, conn=conn)
    audit.checkpoint()
    closed = get_incident(engine, incident_id)
    assert closed is not None
    return closed


def set_status(conn: Connection, incident_id: int, status: str) -> None:
    """Move an open incident to ``status`` (``purged`` after a confirmed purge)."""
    conn.execute(privacy_incidents.update().where(privacy_incidents.c.id == incident_id,
                                                  privacy_incidents.c.status != "closed").values(status=status))


def get_incident(engine: Engine, incident_id: int) -> Incident | None:
    with read_tx(engine) as conn:
        row = conn.execute(sa.select(privacy_incidents).where(privacy_incidents.c.id == incident_id)).first()
    return incident_of_row(row) if row is not None else None


def list_incidents(engine: Engine) -> list[Incident]:
    with read_tx(engine) as conn:
        rows = conn.execute(sa.select(privacy_incidents).order_by(privacy_incidents.c.id)).all()
    return [incident_of_row(row) for row in rows]


def incident_of_row(row: sa.Row[tuple[object, ...]]) -> Incident:
    return Incident(id=row.id, project_id=row.project_id, field=row.field, releases=tuple(json.loads(row.releases)),
                    since=row.since, until=row.until, reason=row.reason, opened_at=row.opened_at,
                    opened_by=row.opened_by, status=row.status, closed_at=row.closed_at, summary=row.summary)


def scope_filter(incident: Incident) -> sa.ColumnElement[bool]:
    """The ``reports`` rows in the incident's scope: project, received time range, releases."""
    c = reports.c
    clauses = [c.received_at >= incident.since, c.received_at < incident.until]
    if incident.project_id is not None:
        clauses.append(c.project_id == incident.project_id)
    if incident.releases:
        clauses.append(c.release.in_(incident.releases))
    return sa.and_(*clauses)
