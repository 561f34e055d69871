"""Erasure tombstones: what keeps an erasure final.

Replay detection reads report ids: a report id already stored answers its first receipt and
stores nothing. An erasure deletes those rows, so without more, the sealed bytes of an erased
report (captured on the way, or left on a disk) would be stored again when sent again inside
the replay window. An erasure therefore leaves, per project, in the writer's transaction:

* an ``install`` tombstone per erased pseudonym, with the time of the erasure;
* a ``report`` tombstone per deleted report id.

Each is a BLAKE2b digest (16 bytes, personalised by kind) of the value, never the value,
and nothing of any report's content. The writer (:meth:`Storage.store_rows`) refuses, in the
same transaction that would store it:

* a report whose id has a tombstone;
* a report of an erased pseudonym whose ``occurred_hour`` is not after the erasure (or that
  has no ``occurred_hour``).

Which time is trusted: the report's own ``occurred_hour``, the coarse time of the crash. It is
inside the HPKE-sealed payload, so whoever replays captured bytes cannot change it without the
project's private key. A sender holding the DSN can seal any hour, but to write the erased
pseudonym into a new report it must know it, and the SDK destroys the install secret it is
derived from when it sends the deletion request; the SDK then uses new pseudonyms. A stored
report's hour is at most ``FUTURE_SLACK`` past its receipt (the ingest check), so every
erased report is refused by the install rule alone; the report-id rule is the second line.

"Not after the erasure" is ``hour <= erased_at + FUTURE_SLACK`` (hours compare as their
strings): a crash sealed by a fast clock just before the erasure is refused too, at the cost
of refusing that pseudonym's crashes of the next hour or two (which only an install that kept
its pseudonym can send: one erased by an operator, not by ``revoke()``).

How long: a report refused by the install rule has ``hour <= erased_at + FUTURE_SLACK``, and
ingest refuses any hour older than ``replay_window_s`` (plus its own hour), so after
``erased_at + replay_window_s + FUTURE_SLACK + 1 h`` nothing a tombstone refuses can pass the
window: retention drops tombstones then (:func:`prune`). Reports without ``occurred_hour``
are not bounded by the window at all (a policy that omits it); they are refused while the
tombstone lives and not after.

Races (PostgreSQL): the erasure takes a transaction-level advisory lock on the project in
exclusive mode before it deletes; every store transaction takes it in shared mode before it
reads tombstones. A report stored concurrently is either committed before the erasure's
DELETE (and deleted by it) or reads the tombstones after the erasure committed. SQLite has
one writer at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crashveil.server.db.engine import is_sqlite
from crashveil.server.db.tables import erasure_tombstones

__all__ = ["FUTURE_SLACK", "INSTALL", "REPORT", "digest", "refused", "record", "lookup_stmt", "wanted",
           "lock_projects", "prune", "keep_for"]

#: A crash may be reported with a clock this far ahead of ours (ingest's window check too).
FUTURE_SLACK = timedelta(hours=1)
INSTALL = "install"
REPORT = "report"
_PERSON = {INSTALL: b"cv-tomb-install", REPORT: b"cv-tomb-report"}
_LOCK_PERSON = b"cv-erasure-lock"


class Candidate(Protocol):
    """What the refusal rule reads of a row about to be stored (``StoreRow``)."""

    @property
    def project_id(self) -> str: ...
    @property
    def report_id(self) -> str: ...
    @property
    def install_id(self) -> str | None: ...
    @property
    def occurred_hour(self) -> str | None: ...


def digest(kind: str, value: str) -> bytes:
    """The tombstone of ``value`` (a pseudonym or a report id): 16 bytes, by kind."""
    return hashlib.blake2b(value.encode("ascii", "replace"), digest_size=16, person=_PERSON[kind]).digest()


def wanted(rows: Sequence[Candidate], indexes: Iterable[int]) -> dict[str, list[bytes]]:
    """The digests to look up for ``rows[i]``, by project (report ids and pseudonyms)."""
    out: dict[str, list[bytes]] = {}
    for index in indexes:
        row = rows[index]
        found = out.setdefault(row.project_id, [])
        found.append(digest(REPORT, row.report_id))
        if row.install_id is not None:
            found.append(digest(INSTALL, row.install_id))
    return out


def lookup_stmt(size: int) -> sa.Select[tuple[bytes, datetime]]:
    """Tombstones among ``size`` digests (parameters ``k0``..) of project ``p``."""
    c = erasure_tombstones.c
    return sa.select(c.digest, c.erased_at).where(
        c.project_id == sa.bindparam("p"), c.digest.in_([sa.bindparam(f"k{i}") for i in range(size)]))


def refused(rows: Sequence[Candidate], indexes: Iterable[int],
            found: Mapping[tuple[str, bytes], datetime]) -> set[int]:
    """The indexes of ``rows`` the tombstones ``found`` ((project, digest) -> erased at) refuse."""
    out: set[int] = set()
    if not found:
        return out
    for index in indexes:
        row = rows[index]
        if (row.project_id, digest(REPORT, row.report_id)) in found:
            out.add(index)
            continue
        if row.install_id is None:
            continue
        erased_at = found.get((row.project_id, digest(INSTALL, row.install_id)))
        if erased_at is None:
            continue
        last_refused = (erased_at + FUTURE_SLACK).astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")
        if row.occurred_hour is None or row.occurred_hour <= last_refused:
            out.add(index)
    return out


def record(conn: sa.Connection, project_id: str, install_ids: Sequence[str], report_ids: Sequence[str], *,
           now: datetime) -> int:
    """Leave the tombstones of an erasure, in its transaction; how many rows were written.

    An install erased again gets the later time (reports in between were refused or erased).
    """
    rows = [{"project_id": project_id, "digest": digest(INSTALL, value), "kind": INSTALL, "erased_at": now}
            for value in install_ids]
    rows += [{"project_id": project_id, "digest": digest(REPORT, value), "kind": REPORT, "erased_at": now}
             for value in report_ids]
    if not rows:
        return 0
    insert = (sqlite.insert if is_sqlite(conn) else postgresql.insert)(erasure_tombstones)
    stmt = insert.on_conflict_do_update(index_elements=["project_id", "digest"],
                                        set_={"erased_at": insert.excluded.erased_at})
    conn.execute(stmt, rows)
    return len(rows)


def lock_projects(conn: sa.Connection, project_ids: Iterable[str], *, exclusive: bool) -> None:
    """PostgreSQL: the erasure/store advisory lock of each project, until the transaction
    ends (shared for stores, exclusive for an erasure); SQLite: nothing (one writer)."""
    if is_sqlite(conn):
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for project_id in sorted(set(project_ids)):
        key = int.from_bytes(hashlib.blake2b(project_id.encode(), digest_size=8, person=_LOCK_PERSON).digest(),
                             "big", signed=True)
        conn.exec_driver_sql(f"SELECT {function}(%(k)s)", {"k": key})


def keep_for(replay_window_s: int) -> timedelta:
    """How long a tombstone must live: the replay window, the clock slack and the hour."""
    return timedelta(seconds=replay_window_s) + FUTURE_SLACK + timedelta(hours=1)


def prune(conn: sa.Connection, *, now: datetime, replay_window_s: int, dry_run: bool = False) -> int:
    """Delete (or, dry, count) the tombstones older than :func:`keep_for`."""
    old = erasure_tombstones.c.erased_at < now - keep_for(replay_window_s)
    if dry_run:
        return int(conn.execute(sa.select(sa.func.count()).select_from(erasure_tombstones).where(old)).scalar_one())
    return int(conn.execute(erasure_tombstones.delete().where(old)).rowcount)
