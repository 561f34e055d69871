"""Counts-only mode weighed by credential, and its audit trail.

A group switches to counts-only mode (details no longer stored, the signed remote config
tells every SDK to send counts only) when its reports of one hour pass
``settings.mass_failure_per_hour``. Pseudonyms are made up by whoever sends, so counting
them (or reports) lets one sender flip any group. What a sender cannot make up is its
*credential*: the client certificate it presented on the mutual-TLS port, or the DSN key
of Sentry ingest. Each credential adds at most ``settings.mass_failure_per_credential``
reports an hour to the count the threshold compares (the group's ``hour_weight``), so a
flip takes reports from several credentials. Reports without a credential (a listener
that does not ask for certificates) share one credential, :data:`NO_CREDENTIAL`.

Credentials are kept as digests (:func:`credential_id`), never the certificate or key.
Every mode change (a group enters or leaves counts-only mode) is an audit entry, actor
``system``, with the group, the reason and the figures (reports, weight, credentials,
threshold, cap); no report content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.tables import crash_groups, group_credential_hours

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail

__all__ = ["NO_CREDENTIAL", "ENTER", "LEAVE", "ModeChange", "HourWeights", "credential_id", "record_changes",
           "expired_groups"]

#: The credential of reports that came without one.
NO_CREDENTIAL = "-"
#: Audit actions of mode changes.
ENTER = "counts_only.enter"
LEAVE = "counts_only.leave"


def credential_id(kind: str, material: bytes) -> str:
    """``<kind>:<first 96 bits of SHA-256 of material, hex>`` (``cert``: the DER of a client
    certificate; ``dsn``: a DSN public key)."""
    return f"{kind}:{hashlib.sha256(material).hexdigest()[:24]}"


@dataclass(frozen=True)
class ModeChange:
    """A group entered (``entered``) or left counts-only mode; the figures go to the audit."""

    project_id: str
    group_id: int
    fingerprint: str
    entered: bool
    hour: str
    reports: int
    weight: int


class HourWeights:
    """Reports per (group, credential) in the current hour, for one write transaction.

    :meth:`load` reads the pairs a batch touches (the groups are locked by the caller), then
    :meth:`add` counts one report and says whether it adds to the group's weight, and
    :meth:`write` upserts the new counts (one statement).
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._state: dict[tuple[int, str], list[object]] = {}  # -> [hour, count]
        self._dirty: set[tuple[int, str]] = set()

    def load(self, conn: sa.Connection, pairs: Iterable[tuple[int, str]]) -> None:
        wanted = set(pairs)
        if not wanted:
            return
        groups = sorted({g for g, _ in wanted})
        creds = sorted({c for _, c in wanted})
        c = group_credential_hours.c
        for start in range(0, len(groups), 500):
            chunk = groups[start:start + 500]
            rows = conn.execute(sa.select(c.group_id, c.credential, c.hour, c.count)
                                .where(c.group_id.in_(chunk), c.credential.in_(creds))).all()
            for group_id, credential, hour, count in rows:
                if (group_id, credential) in wanted:
                    self._state[(group_id, credential)] = [hour, count]

    def add(self, group_id: int, credential: str, hour: str) -> int:
        """Count one report of ``credential`` for ``group_id`` in ``hour``; 1 if it adds to
        the group's weight (the credential is still under the cap), else 0."""
        key = (group_id, credential)
        slot = self._state.get(key)
        if slot is None or slot[0] != hour:
            slot = self._state[key] = [hour, 0]
        count = int(slot[1]) + 1  # type: ignore[call-overload]
        slot[1] = count
        self._dirty.add(key)
        return 1 if count <= self.cap else 0

    def write(self, conn: sa.Connection) -> None:
        if not self._dirty:
            return
        rows = [{"group_id": g, "credential": cred, "hour": self._state[(g, cred)][0],
                 "count": self._state[(g, cred)][1]} for g, cred in sorted(self._dirty)]
        stmt = db.dialect_insert(conn, group_credential_hours)
        stmt = stmt.on_conflict_do_update(index_elements=["group_id", "credential"],
                                          set_={"hour": stmt.excluded.hour, "count": stmt.excluded.count})
        conn.execute(stmt, rows)
        self._dirty.clear()


def _credentials_in(conn: sa.Connection, group_id: int, hour: str) -> int:
    c = group_credential_hours.c
    return int(conn.execute(sa.select(sa.func.count()).select_from(group_credential_hours)
                            .where(c.group_id == group_id, c.hour == hour)).scalar_one())


def record_changes(conn: sa.Connection, audit: AuditTrail, changes: Sequence[ModeChange], *, threshold: int,
                   cap: int) -> None:
    """Write one audit entry per mode change inside the caller's transaction (after
    :meth:`HourWeights.write`, so the credential figure counts this batch)."""
    for change in changes:
        detail: dict[str, object] = {
            "fingerprint": change.fingerprint, "hour": change.hour, "reports": change.reports,
            "weight": change.weight, "threshold": threshold, "per_credential_cap": cap,
        }
        if change.entered:
            detail["reason"] = "weighted reports of the hour above the threshold"
            detail["credentials"] = _credentials_in(conn, change.group_id, change.hour)
        else:
            detail["reason"] = "no hour above the threshold since; the mode expired"
        audit.record(ENTER if change.entered else LEAVE, actor="system", project_id=change.project_id,
                     subject=f"group:{change.group_id}", detail=detail, conn=conn)


def expired_groups(conn: sa.Connection, project_id: str, now: datetime) -> list[ModeChange]:
    """Groups of ``project_id`` whose counts-only mode ended before ``now`` and whose end is
    not audited yet, marked as ended (``counts_only_since`` cleared) in ``conn``."""
    c = crash_groups.c
    rows = conn.execute(sa.select(c.id, c.fingerprint, c.hour_key, c.hour_count, c.hour_weight)
                        .where(c.project_id == project_id, c.counts_only_since.is_not(None),
                               sa.or_(c.counts_only_until.is_(None), c.counts_only_until <= now))
                        .order_by(c.id)).all()
    if rows:
        conn.execute(crash_groups.update().where(c.id.in_([r.id for r in rows])).values(counts_only_since=None))
    return [ModeChange(project_id, r.id, r.fingerprint, False, r.hour_key or "", r.hour_count, r.hour_weight)
            for r in rows]
