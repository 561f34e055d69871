"""Field stops: stop collecting a named policy field, everywhere, at once.

A stop only ever lowers collection. Two sources:

- the policy: a field past its ``expires`` (``policy/expiry.py``) is stopped from that day;
- the ``field_stops`` table: a stop an operator or a privacy incident
  (``lifecycle/incidents.py``) put on one project or on every project.

Both the signed remote config (``http/app.py`` ``build_config``: ``stopped_fields``, so
shipped apps stop collecting) and ingest (``ingest/pipeline.py``: the fields are dropped
before storage and counted per field, in ``crashveil_dropped_fields{cause="stopped"}`` and
in the audit report's server-side counters under the detector ``_stopped``) read
:func:`project_stops`. The table's stops are loaded with the project record
(``Storage.project``, cached and re-read when any host bumps the ``projects`` cache
version), so a report costs no query; the policy's expiry is computed once per policy and
day. A field every report carries (``REQUIRED_FIELDS``) cannot be stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.errors import ConfigError
from crashveil.policy.expiry import expired_fields
from crashveil.server.cluster.cache_versions import PROJECTS, bump
from crashveil.server.db.governance_tables import field_stops
from crashveil.wire.report import REPORT_FIELDS, REQUIRED_FIELDS

if TYPE_CHECKING:
    from crashveil.policy.model import Policy
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.wire.report import Report

__all__ = ["STOPPED_DETECTOR", "active_stops", "add_stop", "check_stoppable", "drop_stopped", "lift_stop",
           "project_stops", "report_stops", "stored_stops", "with_stop_counts"]

#: Detector name under which dropped stopped fields are counted (``redaction_counters``).
STOPPED_DETECTOR = "_stopped"
#: Where stops of every project are kept (``project_id`` NULL).
EVERY_PROJECT = None


def check_stoppable(field: str) -> str:
    """``field`` if a stop may name it; :class:`ConfigError` otherwise (unknown or required)."""
    if field not in REPORT_FIELDS:
        raise ConfigError("--field", "not a field of the report format", f"one of: {', '.join(REPORT_FIELDS)}")
    if field in REQUIRED_FIELDS:
        raise ConfigError("--field", "every report carries this field; it cannot be stopped",
                          f"a field other than: {', '.join(REQUIRED_FIELDS)}")
    return field


def stored_stops(conn: Connection, project_id: str, now: datetime) -> frozenset[str]:
    """Fields the ``field_stops`` table stops for ``project_id`` at ``now`` (its own and every project's)."""
    c = field_stops.c
    rows = conn.execute(sa.select(c.field).where(
        sa.or_(c.project_id == project_id, c.project_id.is_(None)), c.since <= now, c.lifted_at.is_(None))).all()
    return frozenset(row.field for row in rows)


def active_stops(conn: Connection, policy: Policy, project_id: str, now: datetime) -> frozenset[str]:
    """Every field stopped for ``project_id`` at ``now``: the table's stops and the policy's expired fields."""
    return stored_stops(conn, project_id, now) | expired_fields(policy, today=now.date())


def project_stops(project: ProjectRecord, now: datetime) -> frozenset[str]:
    """:func:`active_stops` from a (cached) project record: no query."""
    return project.field_stops | _expired(project, now.date(), None)


def report_stops(project: ProjectRecord, release: str | None, now: datetime) -> frozenset[str]:
    """The fields to drop from one report: :func:`project_stops`, and the fields the current
    policy expires at the report's release (``release:X.Y``), which a flat config list cannot say."""
    stops = project_stops(project, now)
    if release is None:
        return stops
    return stops | _expired(project, now.date(), release[:128])


#: (policy digest, day, release) -> the fields that policy expires then: reports of one day
#: and release share the answer (a policy's digest is computed once per project record).
_EXPIRED: dict[tuple[str, date, str | None], frozenset[str]] = {}


def _expired(project: ProjectRecord, today: date, release: str | None) -> frozenset[str]:
    key = (project.digest, today, release)
    found = _EXPIRED.get(key)
    if found is None:
        if len(_EXPIRED) > 1024:
            _EXPIRED.clear()
        found = _EXPIRED[key] = expired_fields(project.policy, today=today, release=release)
    return found


def add_stop(conn: Connection, field: str, *, project_id: str | None, source: str, reason: str, now: datetime,
             incident_id: int | None = None) -> int:
    """Record a stop (in the caller's write transaction) and make every host re-read it; its id."""
    check_stoppable(field)
    stop_id = conn.execute(field_stops.insert().values(
        project_id=project_id, field=field, source=source, since=now, reason=reason,
        incident_id=incident_id)).inserted_primary_key
    bump(conn, PROJECTS)
    return int(stop_id[0]) if stop_id is not None else 0


def lift_stop(conn: Connection, stop_ids: Iterable[int], *, now: datetime) -> int:
    """Lift stops (collection resumes as the policy allows); how many were still in force."""
    ids = list(stop_ids)
    if not ids:
        return 0
    done = conn.execute(field_stops.update().where(field_stops.c.id.in_(ids), field_stops.c.lifted_at.is_(None))
                        .values(lifted_at=now)).rowcount
    if done:
        bump(conn, PROJECTS)
    return int(done)


def drop_stopped(report: Report, allowlist: Sequence[str], stopped: frozenset[str]) -> tuple[Report, tuple[str, ...]]:
    """``report`` without the ``stopped`` fields (messages in the chain go with ``message``),
    and the paths dropped, for the counters."""
    if not stopped:
        return report, ()
    gone = tuple(name for name in report.present_fields() if name in stopped)
    chain_messages = "message" in stopped and any(c.message is not None for c in report.chain or ())
    if not gone and not chain_messages:
        return report, ()
    kept = report.restricted_to(tuple(name for name in allowlist if name not in stopped))
    return kept, gone + (("chain.message",) if chain_messages and "chain" not in gone else ())


def with_stop_counts(hits: Mapping[tuple[str, str], int], stopped: Sequence[str]) -> Mapping[tuple[str, str], int]:
    """``hits`` plus one ``(field, STOPPED_DETECTOR)`` per dropped path: how storage counts them."""
    if not stopped:
        return hits
    counted = dict(hits)
    for path in stopped:
        counted[(path, STOPPED_DETECTOR)] = counted.get((path, STOPPED_DETECTOR), 0) + 1
    return counted
