"""Cache versions: a counter per cache in the database, so a change made on one host reaches
the caches of every other host within about a second, not after their TTL.

A write that changes what a cache holds calls :func:`bump` in its own transaction (the
project cache: projects, policies, keys; the dashboard's group cache: group status,
erasures). Every process keeps the versions it last read in a :class:`CacheVersions`;
in a server an asyncio task re-reads them every ``check_s`` (one primary-key SELECT of a
few rows: ~0.1 ms, once a second per process), and each cache entry remembers the version
it was computed under: an entry whose version is no longer current is computed again.
Outside a server (the CLI, tests) :meth:`CacheVersions.current` re-reads them itself when
they are older than ``check_s``.

PostgreSQL's LISTEN/NOTIFY would save the second of delay but needs a connection held per
process and a fallback for SQLite anyway; a version check works the same on both.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from crashveil.server.db import engine as db
from crashveil.server.db.cluster_tables import cache_versions

__all__ = ["GROUPS", "PROJECTS", "CacheVersions", "bump"]

logger = logging.getLogger("crashveil.server.cluster")

#: Projects, their policies and keys (``Storage.project``), Sentry DSN keys.
PROJECTS = "projects"
#: What the dashboard's group list caches (``dashboard/context.py`` ``TtlCache``).
GROUPS = "groups"


def bump(conn: Connection, name: str) -> None:
    """Advance cache ``name``'s version inside the caller's write transaction."""
    done = conn.execute(cache_versions.update().where(cache_versions.c.name == name)
                        .values(version=cache_versions.c.version + 1)).rowcount
    if not done:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        conn.execute(insert(cache_versions).values(name=name, version=1).on_conflict_do_update(
            index_elements=["name"], set_={"version": cache_versions.c.version + 1}))


class CacheVersions:
    """The versions of the caches as this process last read them.

    Args:
        engine: the database.
        check_s: re-read them at most this often (0: on every :meth:`current`).
        clock: monotonic seconds.
    """

    def __init__(self, engine: Engine, *, check_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.check_s = check_s
        self._clock = clock
        self._known: dict[str, int] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()
        self._driven = False  # a refresher task re-reads them: current() never does I/O

    def known(self, name: str) -> int:
        """The version last read (no I/O; 0 before any write bumped it)."""
        return self._known.get(name, 0)

    def current(self, name: str) -> int:
        """The version, re-read first if the last read is older than ``check_s`` (unless a
        refresher task keeps them)."""
        if not self._driven:
            at = self._read_at
            if at is None or self._clock() - at >= self.check_s:
                self.refresh()
        return self.known(name)

    def refresh(self) -> None:
        """Read every version (one SELECT); on a database error keep the old ones."""
        if not self._lock.acquire(blocking=False):
            return  # another thread is reading them right now
        try:
            with db.read_tx(self.engine) as conn:
                rows = conn.execute(sa.select(cache_versions.c.name, cache_versions.c.version)).all()
            self._known = {row.name: int(row.version) for row in rows}
            self._read_at = self._clock()
        except SQLAlchemyError as exc:
            self._read_at = self._clock()  # not again before check_s
            logger.warning("cache versions could not be read (%s); caches fall back to their TTL",
                           type(exc).__name__)
        finally:
            self._lock.release()

    async def run(self) -> None:
        """Re-read the versions every ``check_s`` until cancelled (a server's asyncio task)."""
        self._driven = True
        try:
            while True:
                await asyncio.to_thread(self.refresh)
                await asyncio.sleep(max(self.check_s, 0.05))
        finally:
            self._driven = False
