"""PostgreSQL: planner statistics for a young database, asked for once by the writer.

A fresh database has no statistics. Until autovacuum's first ANALYZE (50 rows changed, then
its next pass, up to a minute later), PostgreSQL's planner cannot tell the unique (project,
report id) index from the other (project, ...) indexes of ``reports``. The plan a writer's
connection prepares for its report-id lookup in the first batches then reads every report of
the project for each id, and keeps doing so as the table grows (measured: 2 ms of database
CPU per batch of 16 at 1,500 reports, growing with them), since a prepared statement's plan
is made again only when the statistics change. A server started on a new database under
load would slow down more with every report until autovacuum came by.

So each writer, after storing its first ``AFTER_REPORTS`` reports, ANALYZEs the tables that
PostgreSQL has never analyzed (none on a database that has run a while: then it costs one
catalog read), in a thread of its own so that no batch waits for it. SQLite plans from its
indexes' shapes and is left alone.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from crashveil.server.db import engine as db

__all__ = ["AFTER_REPORTS", "FirstStatistics"]

_log = logging.getLogger("crashveil.server.storage")

#: Reports a writer stores before it asks for the statistics: enough rows that they describe
#: the data (one project holds them all), few enough that no lookup has grown costly yet.
AFTER_REPORTS = 256

_NEVER_ANALYZED = sa.text("SELECT relname FROM pg_stat_user_tables "
                          "WHERE last_analyze IS NULL AND last_autoanalyze IS NULL ORDER BY relname")


class FirstStatistics:
    """Call :meth:`stored` after each committed batch; the ANALYZE runs once, on PostgreSQL."""

    def __init__(self, engine: sa.Engine, after: int = AFTER_REPORTS) -> None:
        self._engine = engine
        self._left: int | None = None if db.is_sqlite(engine) else after
        self._lock = threading.Lock()
        #: The thread that analyzes (tests wait for it).
        self.thread: threading.Thread | None = None

    def stored(self, count: int) -> None:
        """``count`` more reports are committed: start the ANALYZE when enough are."""
        if self._left is None:
            return
        with self._lock:
            if self._left is None:
                return
            self._left -= count
            if self._left > 0:
                return
            self._left = None
        self.thread = threading.Thread(target=self._analyze, name="crashveil-first-statistics", daemon=True)
        self.thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait (up to ``timeout_s``) for a running ANALYZE, so that its connection is back in
        the pool before the pool is disposed (a connection left out would be dropped open)."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout_s)

    def _analyze(self) -> None:
        try:
            with self._engine.connect() as conn:
                names = list(conn.execute(_NEVER_ANALYZED).scalars())
                if names:
                    quoted = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in names)
                    conn.execute(sa.text(f"ANALYZE {quoted}"))
                conn.commit()
            if names:
                _log.info("planner statistics made for %d tables PostgreSQL had not analyzed yet", len(names))
        except SQLAlchemyError as exc:  # autovacuum will come by: nothing is lost
            _log.warning("could not ANALYZE the young database's tables (%s)", type(exc).__name__)
