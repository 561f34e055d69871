"""Leases in the database: one host at a time runs a periodic job (retention).

A lease is a row (name, holder, expires_at). :meth:`Lease.acquire` is one atomic UPDATE
``... WHERE name = :name AND (expires_at <= :now OR holder = :me)``: of several hosts trying
at once, the database lets exactly one update the row (the others see 0 rows), on SQLite
(one writer at a time) as on PostgreSQL (the row lock, then the WHERE re-checked). The
holder renews it while the job runs; :meth:`finish` hands the row back with no holder but
keeps it closed until the next run is due, so a job runs about once per period across all
hosts, not once per host. A holder that dies stops renewing; its lease expires after
``ttl`` and the next host that tries takes the job over.

Times are the hosts' own UTC clocks: keep them synchronised (NTP); a skew is tolerated up
to the ttl minus the renewal period.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.db import engine as db
from crashveil.server.db.cluster_tables import leases

__all__ = ["Lease", "holder_name"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def holder_name(host_name: str) -> str:
    """This process as a lease holder: the host name and the PID."""
    return f"{host_name}:{os.getpid()}"


class Lease:
    """The lease ``name`` as seen by ``holder``; each call is one short transaction."""

    def __init__(self, engine: Engine, name: str, holder: str, *, ttl_s: float = 300.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not holder:
            raise ValueError("a lease holder needs a name")
        self.engine = engine
        self.name = name
        self.holder = holder
        self.ttl = timedelta(seconds=ttl_s)
        self._now = now

    def acquire(self) -> bool:
        """Take the lease if it is free (expired) or already ours; ``True`` if we hold it now."""
        now = self._now()
        with db.write_tx(self.engine) as conn:
            self._ensure_row(conn)
            taken = conn.execute(
                leases.update()
                .where(leases.c.name == self.name,
                       sa.or_(leases.c.expires_at <= now, leases.c.holder == self.holder))
                .values(holder=self.holder, expires_at=now + self.ttl)).rowcount
        return taken == 1

    def renew(self) -> bool:
        """Extend our lease by ``ttl`` from now; ``False`` if it is no longer ours (lost)."""
        now = self._now()
        with db.write_tx(self.engine) as conn:
            kept = conn.execute(leases.update().where(leases.c.name == self.name, leases.c.holder == self.holder)
                                .values(expires_at=now + self.ttl)).rowcount
        return kept == 1

    def finish(self, closed_until: datetime) -> None:
        """Let go of the lease but keep it closed to everyone until ``closed_until`` (the next
        run due): the job ran for this period."""
        with db.write_tx(self.engine) as conn:
            conn.execute(leases.update().where(leases.c.name == self.name, leases.c.holder == self.holder)
                         .values(holder="", expires_at=closed_until))

    def release(self) -> None:
        """Let go of the lease now: any host may take it at once (a job stopped half-way)."""
        with db.write_tx(self.engine) as conn:
            conn.execute(leases.update().where(leases.c.name == self.name, leases.c.holder == self.holder)
                         .values(holder="", expires_at=self._now()))

    def state(self) -> tuple[str, datetime] | None:
        """(holder, expires_at) of the lease row, or ``None`` before anyone tried."""
        with db.read_tx(self.engine) as conn:
            row = conn.execute(sa.select(leases.c.holder, leases.c.expires_at)
                               .where(leases.c.name == self.name)).first()
        return None if row is None else (row.holder, row.expires_at)

    def _ensure_row(self, conn: sa.Connection) -> None:
        """The lease's row, made expired if missing (the UPDATE then decides who takes it)."""
        exists = conn.execute(sa.select(leases.c.name).where(leases.c.name == self.name)).first()
        if exists is None:
            insert = _insert_ignoring_conflict(conn)
            conn.execute(insert.values(name=self.name, holder="", expires_at=_EPOCH))


def _insert_ignoring_conflict(conn: sa.Connection) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect (two hosts may both miss the row)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(leases).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(leases).on_conflict_do_nothing(index_elements=["name"])
