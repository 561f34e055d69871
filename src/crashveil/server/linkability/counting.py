"""Which rung of the ladder each report of a batch is stored at: k-anonymity before storage.

A report's quasi-identifiers are stored at the finest rung whose combination was sent, in
its pseudonym period, by at least k distinct installations (this one included); below rung
2 they are suppressed. An installation keeps, for the whole period, the rung its first report
of a combination got: the pseudonym links one installation's reports within a period, so a
rung that grew finer with the count would single out the one installation that stayed coarse.
With that rule every combination stored for a period was sent by at least k installations,
and an installation whose combination is rare hides among the k - 1 first installations of
each common one, which stay coarse with it (``tests/server/linkability``).

Cost: the writer (:class:`QuasiCounter`, in ``storage.reports.ReportWriter``) remembers the
combinations already shared by k installations and their early installations (at most k - 1
each), so a report of a common combination needs no statement at all. The others are read
and written with one statement per table per batch, in the batch's own transaction. What
a failed transaction taught is forgotten (:meth:`QuasiCounter.forget`).

Counts are of pseudonyms: an installation whose combination changes within a period (an OS
update) counts once for each at the coarser rungs. A report without a pseudonym is not
counted and gets the finest rung others already made common.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.linkability.ladder import EXACT, NAMED_RUNGS, SUPPRESSED
from crashveil.server.linkability.tables import quasi_class_counts, quasi_early_installs, quasi_rung_reports
from crashveil.server.storage.records import StoreRow
from crashveil.server.storage.statements import bulk, in_chunks, in_keys, upsert_counts

__all__ = ["SECRET_NAME", "QuasiCounter"]

#: The shared secret (``keys.shared_secrets``) the period keys are derived from.
SECRET_NAME = "linkability"
#: Period states kept in memory (projects x open periods); the oldest is dropped beyond it.
_MAX_PERIODS = 256


@dataclass(slots=True)
class _Period:
    """What the writer knows of one (project, period, k)."""

    key: bytes
    #: Combination digests sent by at least k installations.
    common: set[bytes] = field(default_factory=set)
    #: Exact combinations whose early installations are in ``early``.
    loaded: set[bytes] = field(default_factory=set)
    #: (exact combination, installation) -> the rung it keeps.
    early: dict[tuple[bytes, bytes], int] = field(default_factory=dict)
    #: Exact combinations with at least one entry in ``early``.
    with_early: set[bytes] = field(default_factory=set)

    def digest(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16, key=self.key, person=b"cv-qi-class").digest()

    def install(self, install_id: str) -> bytes:
        return hashlib.blake2b(install_id.encode("ascii"), digest_size=16, key=self.key,
                               person=b"cv-qi-install").digest()


@dataclass(slots=True)
class _Pending:
    """A report the cache could not decide: its index, state, digests and installation digest."""

    index: int
    project_id: str
    period: int
    k: int
    state: _Period
    digests: tuple[bytes, ...]
    install: bytes | None


class QuasiCounter:
    """The writer's side of the check: rungs for a batch, in the batch's transaction."""

    def __init__(self) -> None:
        #: The shared secret; set by ``Storage`` before the first batch (outside any transaction).
        self.secret: bytes | None = None
        self._periods: dict[tuple[str, int, int], _Period] = {}
        self._newest: dict[str, int] = {}

    def forget(self) -> None:
        """Drop what the cache learnt (a batch's transaction failed: its counts never were)."""
        self._periods.clear()

    def _state(self, project_id: str, period: int, k: int) -> _Period:
        state = self._periods.get((project_id, period, k))
        if state is None:
            if self.secret is None:
                raise RuntimeError("QuasiCounter.secret is not set")
            if len(self._periods) >= _MAX_PERIODS:
                self._periods.pop(next(iter(self._periods)))
            key = hashlib.blake2b(f"{project_id}\0{period}".encode(), key=self.secret, digest_size=32,
                                  person=b"cv-qi-period").digest()
            state = self._periods[(project_id, period, k)] = _Period(key)
        return state

    def rungs(self, conn: sa.Connection, rows: Sequence[StoreRow]) -> list[int]:
        """The rung of each of ``rows`` (``StoreRow``s, all to be stored), counting each
        installation once per combination and period; writes the counts it changed."""
        out = [EXACT] * len(rows)
        pending: list[_Pending] = []
        periods: set[tuple[str, int]] = set()
        for index, row in enumerate(rows):
            quasi = row.quasi
            if quasi is None:
                continue
            state = self._state(row.project_id, quasi.period, quasi.k)
            periods.add((row.project_id, quasi.period))
            exact = state.digest(quasi.classes[0])
            if exact in state.common and exact in state.loaded:  # the common case: no statement, one digest
                if row.install_id is not None and exact in state.with_early:
                    out[index] = state.early.get((exact, state.install(row.install_id)), EXACT)
                continue
            digests = (exact, *(state.digest(text) for text in quasi.classes[1:]))
            install = state.install(row.install_id) if row.install_id is not None else None
            pending.append(_Pending(index, row.project_id, quasi.period, quasi.k, state, digests, install))
        self._prune(conn, periods)
        if pending:
            self._decide(conn, pending, out)
        tallies: dict[tuple[str, int, int], int] = {}
        for index, row in enumerate(rows):
            if row.quasi is not None:
                slot = (row.project_id, row.quasi.period, out[index])
                tallies[slot] = tallies.get(slot, 0) + 1
        upsert_counts(conn, quasi_rung_reports, ["project_id", "period", "rung"],
                      [dict(project_id=p, period=n, rung=r, reports=c) for (p, n, r), c in sorted(tallies.items())],
                      ("reports",))
        return out

    def _decide(self, conn: sa.Connection, pending: list[_Pending], out: list[int]) -> None:
        """Rungs of the reports the cache could not decide: read, count, write (one
        statement per table per (project, period))."""
        by_period: dict[tuple[str, int, int], list[_Pending]] = {}
        for item in pending:
            by_period.setdefault((item.project_id, item.period, item.k), []).append(item)
        for (project_id, period, k), items in sorted(by_period.items()):
            state = items[0].state
            counts = _read_counts(conn, project_id, period, sorted({d for item in items for d in item.digests}))
            combos = sorted({item.digests[0] for item in items} - state.loaded)
            for combo, install, rung in _read_early(conn, project_id, period, combos):
                state.early.setdefault((combo, install), rung)
                state.with_early.add(combo)
            state.loaded.update(combos)
            added: dict[bytes, int] = {}
            new_early: list[dict[str, Any]] = []
            for item in items:
                out[item.index] = _rung_of(item, counts, added, new_early)
                state.common.update(d for d in item.digests if counts.get(d, 0) >= k)
            upsert_counts(conn, quasi_class_counts, ["project_id", "period", "digest"],
                          [dict(project_id=project_id, period=period, digest=d, installs=n)
                           for d, n in sorted(added.items())], ("installs",))
            bulk(conn, "quasi-early", lambda c: db.dialect_insert(c, quasi_early_installs).on_conflict_do_nothing(),
                 [dict(project_id=project_id, period=period, **row) for row in new_early])

    def _prune(self, conn: sa.Connection, periods: set[tuple[str, int]]) -> None:
        """Delete a project's rows of periods before the previous one, once per newer period seen."""
        for project_id, period in sorted(periods):
            if self._newest.get(project_id, -1) >= period:
                continue
            self._newest[project_id] = period
            for table in (quasi_class_counts, quasi_early_installs, quasi_rung_reports):
                conn.execute(table.delete().where(table.c.project_id == project_id, table.c.period < period - 1))


def _rung_of(item: _Pending, counts: dict[bytes, int], added: dict[bytes, int], new_early: list[dict[str, Any]]
             ) -> int:
    """The rung of one undecided report; counts its installation when new to its combination."""
    state, digests, install = item.state, item.digests, item.install
    kept = state.early.get((digests[0], install)) if install is not None else None
    if kept is not None:
        return kept
    if install is not None:
        for d in digests:
            counts[d] = counts.get(d, 0) + 1
            added[d] = added.get(d, 0) + 1
    rung = next((r for r in NAMED_RUNGS if counts.get(digests[r], 0) >= item.k), SUPPRESSED)
    if rung != EXACT and install is not None:
        state.early[(digests[0], install)] = rung
        state.with_early.add(digests[0])
        new_early.append(dict(combination=digests[0], install=install, rung=rung))
    return rung


def _read_counts(conn: sa.Connection, project_id: str, period: int, digests: list[bytes]) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for _, stmt, params in in_chunks(conn, "quasi-counts", digests, _counts_stmt):
        for digest, installs in db.fetch_all(conn, stmt, {"p": project_id, "n": period, **params}):
            found[bytes(digest)] = installs
    return found


def _read_early(conn: sa.Connection, project_id: str, period: int, combos: list[bytes]
                ) -> list[tuple[bytes, bytes, int]]:
    rows: list[tuple[bytes, bytes, int]] = []
    for _, stmt, params in in_chunks(conn, "quasi-early", combos, _early_stmt):
        rows.extend((bytes(c), bytes(i), r) for c, i, r in db.fetch_all(conn, stmt, {"p": project_id, "n": period,
                                                                                   **params}))
    return rows


def _counts_stmt(size: int) -> Any:
    c = quasi_class_counts.c
    return sa.select(c.digest, c.installs).where(c.project_id == sa.bindparam("p"), c.period == sa.bindparam("n"),
                                                 c.digest.in_(in_keys(size)))


def _early_stmt(size: int) -> Any:
    c = quasi_early_installs.c
    return (sa.select(c.combination, c.install, c.rung)
            .where(c.project_id == sa.bindparam("p"), c.period == sa.bindparam("n"), c.combination.in_(in_keys(size))))
