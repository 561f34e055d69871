"""Counts-only mode, per credential and project-wide, and its audit trail.

In counts-only mode a group's reports are stored without details and the signed remote
config lists the group, so SDKs send counts only. Pseudonyms are made up by whoever sends,
so they cannot decide who is switched; what a sender cannot make up is its *credential*:
the client certificate it presented on the mutual-TLS port, or the DSN key of Sentry
ingest. Certificates and DSN keys are issued per app, so one credential is often one
app's whole fleet. Hence two scopes, both over ``settings.mass_failure_per_hour``:

* **one credential**: when a credential's OWN reports of a group in one hour pass the
  threshold, the group is counts-only for that credential alone: its further reports are
  stored counts-only and the config served to it (``/config`` on the mutual-TLS port)
  lists the group; other credentials are not affected. A DSN key has no config, so for it
  only the storing applies. This is the ordinary mass failure of a single-app project.
* **project-wide**: when the group's *weight* passes the threshold, where each credential
  adds at most ``settings.mass_failure_per_credential`` reports an hour (the group's
  ``hour_weight``), every credential's reports are stored counts-only and every config
  lists the group. With the defaults (1,000 and 100) that takes at least 11 credentials,
  so one sender cannot switch the group for everyone else.

Either mode lasts to the end of the hour after the one that passed the threshold (the
config's list); in a new hour, reports keep their details until the count passes again.
Reports without a credential (a listener that does not ask for certificates) share one
credential, :data:`NO_CREDENTIAL`.

Credentials are kept as digests (:func:`credential_id`), never the certificate or key.
Every mode change (entering or leaving, in either scope) is an audit entry, actor
``system``, with the group, ``scope`` (the credential digest, or ``project``), the reason
and the figures (reports; for the project: weight, credentials, cap; the threshold); no
report content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.tables import crash_groups, group_credential_hours
from crashveil.server.storage.statements import bulk, in_chunks, in_tuple_keys

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail

__all__ = ["NO_CREDENTIAL", "PROJECT", "ENTER", "LEAVE", "ModeChange", "HourWeights", "credential_id",
           "mode_until", "record_changes", "expired_groups", "expire_modes", "credential_fingerprints"]

#: The credential of reports that came without one.
NO_CREDENTIAL = "-"
#: The ``scope`` of a project-wide mode change (a credential's own: its digest).
PROJECT = "project"
#: Audit actions of mode changes.
ENTER = "counts_only.enter"
LEAVE = "counts_only.leave"


def credential_id(kind: str, material: bytes) -> str:
    """``<kind>:<first 96 bits of SHA-256 of material, hex>`` (``cert``: the DER of a client
    certificate; ``dsn``: a DSN public key)."""
    return f"{kind}:{hashlib.sha256(material).hexdigest()[:24]}"


def mode_until(received_at: datetime) -> datetime:
    """The end of a mode entered (or renewed) by a report received at ``received_at``: the
    end of the next hour."""
    return received_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)


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
    #: :data:`PROJECT`, or the credential whose own mode this is.
    scope: str = PROJECT


@dataclass
class _Slot:
    """One (group, credential) pair: its reports in ``hour``, and its own counts-only mode."""

    hour: str
    count: int
    until: datetime | None = None
    since: datetime | None = None


class HourWeights:
    """Reports per (group, credential) in the current hour, for one write transaction.

    :meth:`load` reads the pairs a batch touches (the groups are locked by the caller), then
    :meth:`add_report` counts one report (its weight toward the project-wide threshold, and
    the credential's own mode), and :meth:`write` upserts the new counts (one statement) and
    the pairs whose own mode changed (one more, only then).
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._state: dict[tuple[int, str], _Slot] = {}
        self._dirty: set[tuple[int, str]] = set()
        self._moved: set[tuple[int, str]] = set()

    def load(self, conn: sa.Connection, pairs: Iterable[tuple[int, str]]) -> None:
        """Read the state of ``pairs`` (one statement of a cached shape per 500 pairs)."""
        wanted = sorted(set(pairs))
        for _, stmt, params in in_chunks(conn, "credential-hours", wanted, _hours_stmt):
            for row in db.fetch_dicts(conn, stmt, params):
                self._state[(row["group_id"], row["credential"])] = _Slot(
                    row["hour"], row["count"], row["counts_only_until"], row["counts_only_since"])

    def add(self, group_id: int, credential: str, hour: str) -> int:
        """Count one report of ``credential`` for ``group_id`` in ``hour``; 1 if it adds to
        the group's weight (the credential is still under the cap), else 0."""
        key = (group_id, credential)
        slot = self._state.get(key)
        if slot is None:
            slot = self._state[key] = _Slot(hour, 0)
        elif slot.hour != hour:
            slot.hour, slot.count = hour, 0
        slot.count += 1
        self._dirty.add(key)
        return 1 if slot.count <= self.cap else 0

    def add_report(self, project_id: str, group_id: int, fingerprint: str, credential: str, hour: str,
                   received_at: datetime, threshold: int, changes: list[ModeChange]) -> tuple[int, bool]:
        """:meth:`add`, and the credential's own mode: (what the report adds to the group's
        weight, whether the credential's own reports of the hour pass ``threshold`` so this
        one is stored counts-only). Mode changes of the pair are appended to ``changes``."""
        key = (group_id, credential)
        slot = self._state.get(key)
        if slot is not None and slot.since is not None and not (slot.until is not None and slot.until > received_at):
            changes.append(ModeChange(project_id, group_id, fingerprint, False, slot.hour, slot.count, slot.count,
                                      credential))
            slot.since = None
            self._moved.add(key)
        weight = self.add(group_id, credential, hour)
        slot = self._state[key]
        own = slot.count > threshold
        if own:
            until = mode_until(received_at)
            if slot.until != until:
                slot.until = until
                self._moved.add(key)
            if slot.since is None:
                slot.since = received_at
                self._moved.add(key)
                changes.append(ModeChange(project_id, group_id, fingerprint, True, hour, slot.count, slot.count,
                                          credential))
        return weight, own

    def write(self, conn: sa.Connection) -> None:
        """Upsert the counts of the pairs counted, and the modes of those whose mode moved
        (statements built once: ``statements.bulk``)."""
        state = self._state
        if self._dirty:
            bulk(conn, "credential-hours-upsert", _hours_upsert,
                 [{"group_id": g, "credential": cred, "hour": state[(g, cred)].hour, "count": state[(g, cred)].count}
                  for g, cred in sorted(self._dirty)])
            self._dirty.clear()
        if self._moved:
            bulk(conn, "credential-hours-mode", _hours_mode_update,
                 [{"gid": g, "cred": cred, "until": state[(g, cred)].until, "since": state[(g, cred)].since}
                  for g, cred in sorted(self._moved)])
            self._moved.clear()


def _hours_stmt(size: int) -> sa.Select[Any]:
    c = group_credential_hours.c
    return (sa.select(c.group_id, c.credential, c.hour, c.count, c.counts_only_until, c.counts_only_since)
            .where(sa.tuple_(c.group_id, c.credential).in_(in_tuple_keys(size, 2))))


def _hours_upsert(conn: sa.Connection) -> Any:
    stmt = db.dialect_insert(conn, group_credential_hours)
    return stmt.on_conflict_do_update(index_elements=["group_id", "credential"],
                                      set_={"hour": stmt.excluded.hour, "count": stmt.excluded.count})


def _hours_mode_update(conn: sa.Connection) -> Any:
    c = group_credential_hours.c
    return (group_credential_hours.update()
            .where(c.group_id == sa.bindparam("gid"), c.credential == sa.bindparam("cred"))
            .values(counts_only_until=sa.bindparam("until"), counts_only_since=sa.bindparam("since")))


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
            "scope": change.scope, "fingerprint": change.fingerprint, "hour": change.hour,
            "reports": change.reports, "threshold": threshold,
        }
        if change.scope == PROJECT:
            detail.update(weight=change.weight, per_credential_cap=cap)
        if not change.entered:
            detail["reason"] = "no hour above the threshold since; the mode expired"
        elif change.scope == PROJECT:
            detail["reason"] = "weighted reports of the hour above the threshold"
            detail["credentials"] = _credentials_in(conn, change.group_id, change.hour)
        else:
            detail["reason"] = "this credential's own reports of the hour above the threshold"
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


_ScopedRow = tuple[int, str, str, str, int, "datetime | None"]


def _scoped_rows(conn: sa.Connection, project_id: str) -> list[_ScopedRow]:
    """(group id, fingerprint, credential, hour, count, until) of the pairs of ``project_id``
    in (or just out of, end not audited) a credential's own mode: the partial index's rows."""
    h, g = group_credential_hours.c, crash_groups.c
    rows = conn.execute(sa.select(h.group_id, g.fingerprint, h.credential, h.hour, h.count, h.counts_only_until)
                        .join_from(group_credential_hours, crash_groups, h.group_id == g.id)
                        .where(h.counts_only_since.is_not(None), g.project_id == project_id)
                        .order_by(h.group_id, h.credential))
    # unpacked: the stubs read ``r.count`` as tuple.count (at run time it is the column)
    return [(group_id, fingerprint, credential, hour, count, until)
            for group_id, fingerprint, credential, hour, count, until in rows]


def credential_fingerprints(conn: sa.Connection, project_id: str, now: datetime
                            ) -> tuple[dict[str, list[str]], bool]:
    """Per credential, the fingerprints of ``project_id`` in that credential's own mode at
    ``now``; and whether some pair's mode ended without its end being audited yet."""
    active: dict[str, list[str]] = {}
    expired = False
    for _, fingerprint, credential, _, _, until in _scoped_rows(conn, project_id):
        if until is not None and until > now:
            active.setdefault(credential, []).append(fingerprint)
        else:
            expired = True
    return active, expired


def expire_modes(conn: sa.Connection, project_id: str, now: datetime) -> list[ModeChange]:
    """Modes of ``project_id`` (project-wide and per credential) that ended before ``now``
    and whose end is not audited yet, marked as ended in ``conn``.

    The groups concerned are locked first, in id order as the ingest writer locks them, so
    a writer storing a report of the group cannot audit the same end twice.
    """
    g, h = crash_groups.c, group_credential_hours.c
    scoped = sa.select(h.group_id).where(h.counts_only_since.is_not(None))
    conn.execute(sa.select(g.id).where(g.project_id == project_id,
                                       sa.or_(g.counts_only_since.is_not(None), g.id.in_(scoped)))
                 .order_by(g.id).with_for_update()).all()
    changes = expired_groups(conn, project_id, now)
    for group_id, fingerprint, credential, hour, count, until in _scoped_rows(conn, project_id):
        if until is not None and until > now:
            continue
        conn.execute(group_credential_hours.update().where(h.group_id == group_id, h.credential == credential)
                     .values(counts_only_since=None))
        changes.append(ModeChange(project_id, group_id, fingerprint, False, hour, count, count, credential))
    return changes
