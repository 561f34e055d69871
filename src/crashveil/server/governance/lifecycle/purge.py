"""``crashveil incident purge ID``: remove a leaked field from what was stored, dry run first.

Without ``--confirm`` nothing changes: the plan counts, per project and received day, the
reports in the incident's scope (``incidents.scope_filter``) and the stored details that
carry the field (each is decrypted to know: the field lives only inside the encrypted detail).

With ``--confirm`` each (project, day) is one committed batch, audited (``incident.purge``):
every detail of that day is re-encrypted under a **fresh** day key, the field taken out of
the details in scope (``message`` also takes the messages of the chain), and the day's key
row rewrapped to the fresh key, as retention strips a retention class
(``governance/retention.py``). The old ciphertext, wherever a copy of it survives, can no
longer be opened with any key this server keeps: a crypto-shred of the field, not only a
rewrite. The reports themselves stay (counts, groups and roll-ups are not personal data).
Values the groups took from the field for the triage list (``title_message`` from
``message`` / ``message_template``, ``source_lines`` from ``source_context``) are cleared for
the groups of reports in scope. On SQLite the full-text index is optimised and the WAL
checkpointed and truncated, so nothing deleted stays in the database file or its WAL (the
engine sets ``secure_delete``). A backup taken before the purge still holds the old day
keys under the current KEK: the next KEK rotation (``crashveil keys rotate --kek``, or the
retention run after it shreds) puts it beyond use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.engine import is_sqlite, read_tx, write_tx
from crashveil.server.db.tables import crash_groups, data_keys, reports
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.lifecycle.incidents import Incident, scope_filter, set_status
from crashveil.server.keys.crypto import decrypt_detail, detail_aad, encrypt_detail, new_data_key
from crashveil.wire.canonical import canonical_json

if TYPE_CHECKING:
    from crashveil.server.storage.store import Storage

__all__ = ["PurgeDay", "PurgePlan", "plan_purge", "run_purge"]

#: Group columns taken from a report field at grouping time (``ingest/titles.py``), cleared by a purge.
_GROUP_COLUMNS: dict[str, dict[str, None]] = {
    "message": {"title_message": None, "title_message_at": None},
    "message_template": {"title_message": None, "title_message_at": None},
    "source_context": {"source_lines": None, "source_at": None},
}


@dataclass(frozen=True)
class PurgeDay:
    """One project's received day in the incident's scope."""

    project_id: str
    day: str
    reports: int
    with_field: int


@dataclass
class PurgePlan:
    """What a purge would do (dry run) or did (confirmed)."""

    incident: Incident
    days: list[PurgeDay] = field(default_factory=list)
    confirmed: bool = False
    groups_cleared: int = 0

    def per_project(self) -> dict[str, tuple[int, int]]:
        """project -> (reports in scope, details carrying the field)."""
        totals: dict[str, tuple[int, int]] = {}
        for day in self.days:
            seen, found = totals.get(day.project_id, (0, 0))
            totals[day.project_id] = (seen + day.reports, found + day.with_field)
        return totals


def _strip(data: dict[str, Any], name: str) -> bool:
    """Take field ``name`` out of a detail's report (``message``: the chain's too); whether it was there."""
    report = data.get("report", {})
    found = report.pop(name, None) is not None
    if name == "message":
        for link in report.get("chain") or ():
            found = link.pop("message", None) is not None or found
    return found


def _in_scope(conn: Connection, incident: Incident) -> Sequence[sa.Row[Any, Any, Any, Any, Any, Any]]:
    return conn.execute(sa.select(reports.c.id, reports.c.project_id, reports.c.day, reports.c.report_id,
                                  reports.c.detail, reports.c.data_key_id)
                        .where(scope_filter(incident)).order_by(reports.c.project_id, reports.c.day)).all()


def plan_purge(storage: Storage, incident: Incident) -> PurgePlan:
    """The dry run: per project and day, the reports in scope and the details carrying the field."""
    plan = PurgePlan(incident)
    counts: dict[tuple[str, str], list[int]] = {}
    with read_tx(storage.engine) as conn:
        for row in _in_scope(conn, incident):
            cell = counts.setdefault((row.project_id, row.day), [0, 0])
            cell[0] += 1
            if row.detail is None or row.data_key_id is None:
                continue
            dek = storage.keys.data_key_for_read(conn, row.data_key_id)
            if dek is None:
                continue
            data = json.loads(decrypt_detail(dek, row.detail, aad=detail_aad(row.project_id, row.report_id, row.day)))
            cell[1] += int(_strip(data, incident.field))
    plan.days = [PurgeDay(project, day, seen, found) for (project, day), (seen, found) in sorted(counts.items())]
    return plan


def run_purge(storage: Storage, audit: AuditTrail, incident: Incident, *, actor: str, now: datetime,
              stop: Callable[[], bool] = lambda: False) -> PurgePlan:
    """Purge the field from every day of the plan, one committed and audited batch per day."""
    plan = plan_purge(storage, incident)
    plan.confirmed = True
    for day in plan.days:
        if stop():
            break
        if day.with_field:
            _purge_day(storage, audit, incident, day, actor=actor)
    with write_tx(storage.engine) as conn:
        columns = _GROUP_COLUMNS.get(incident.field)
        if columns:
            groups = sa.select(reports.c.group_id).where(scope_filter(incident)).distinct().scalar_subquery()
            plan.groups_cleared = int(conn.execute(crash_groups.update().where(crash_groups.c.id.in_(groups))
                                                   .values(**columns)).rowcount)
        set_status(conn, incident.id, "purged")
        totals = plan.per_project()
        audit.record("incident.purged", actor=actor, project_id=incident.project_id, subject=f"incident:{incident.id}",
                     detail={"field": incident.field, "reports_in_scope": sum(t[0] for t in totals.values()),
                             "details_purged": sum(t[1] for t in totals.values()),
                             "groups_cleared": plan.groups_cleared, "method": "re-encrypted under a fresh day key"},
                     conn=conn)
    audit.checkpoint()
    _compact(storage)
    return plan


def _purge_day(storage: Storage, audit: AuditTrail, incident: Incident, day: PurgeDay, *, actor: str) -> None:
    """One (project, day): every detail re-encrypted under a fresh key, the field out of those in scope."""
    keyring = storage.keys
    key_id = keyring.data_key_id(day.project_id, day.day)
    with write_tx(storage.engine) as conn:
        query = sa.select(data_keys).where(data_keys.c.key_id == key_id)
        key_row = conn.execute(query if is_sqlite(conn) else query.with_for_update()).first()
        if key_row is None or key_row.wrapped_dek is None:
            return  # the day's key is already destroyed: its details are unreadable already
        old = cast(bytes, keyring.data_key_for_read(conn, key_id))
        fresh = new_data_key()
        in_scope = {row.id for row in _in_scope(conn, incident) if row.project_id == day.project_id
                    and row.day == day.day}
        rows = conn.execute(sa.select(reports.c.id, reports.c.report_id, reports.c.detail).where(
            reports.c.project_id == day.project_id, reports.c.day == day.day, reports.c.data_key_id == key_id,
            reports.c.detail.is_not(None))).all()
        removed = 0
        for row in rows:
            aad = detail_aad(day.project_id, row.report_id, day.day)
            data = json.loads(decrypt_detail(old, row.detail, aad=aad))
            if row.id in in_scope:
                removed += int(_strip(data, incident.field))
            conn.execute(reports.update().where(reports.c.id == row.id).values(
                detail=encrypt_detail(fresh, canonical_json(data), aad=aad)))
        kek_id, wrapped = keyring.provider.wrap(fresh, key_id=key_id)
        conn.execute(data_keys.update().where(data_keys.c.key_id == key_id).values(kek_id=kek_id, wrapped_dek=wrapped))
        audit.record("incident.purge", actor=actor, project_id=day.project_id, subject=f"incident:{incident.id}",
                     detail={"field": incident.field, "day": day.day, "details_rewritten": len(rows),
                             "fields_removed": removed}, conn=conn)


def _compact(storage: Storage) -> None:
    """SQLite: merge the full-text index (old entries out) and truncate the WAL."""
    with storage.engine.connect() as conn:
        if not is_sqlite(conn):
            return
        if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'group_search'").first() is not None:
            conn.exec_driver_sql("INSERT INTO group_search (group_search) VALUES ('optimize')")
            conn.commit()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
