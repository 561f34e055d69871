"""PostgreSQL: a young database's report-id lookup probes the unique index once the writer
has asked for the planner statistics (``storage.statistics``). Without them (PostgreSQL 15, a
database younger than autovacuum's first pass) the lookup's generic plan probes another
(project, ...) index and filters every report of the project, for each id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.storage.records import PendingReport
from crashveil.server.storage.statistics import AFTER_REPORTS
from crashveil.server.storage.store import Storage

from ..conftest import build_report, make_settings

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
#: The writer's report-id lookup (``storage.reports._EXISTING_PG``), as a prepared statement.
_LOOKUP = ("PREPARE lookup(text[], text) AS SELECT r.* FROM unnest($1::TEXT[]) AS k(report_id) CROSS JOIN LATERAL "
           "(SELECT report_id, receipt FROM reports AS t WHERE t.project_id = $2 AND t.report_id = k.report_id "
           "OFFSET 0) AS r")


def _lookup_plan(storage: Storage) -> str:
    """The plan a connection keeps for the lookup once prepared (the generic plan)."""
    with storage.engine.connect() as conn:
        conn.execute(sa.text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(sa.text(_LOOKUP))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN EXECUTE lookup('{a,b}', 'demo')")).scalars())
        conn.rollback()
    return plan


def _store(storage: Storage, count: int, start: int) -> None:
    for first in range(start, start + count, 16):
        storage.store_reports([
            PendingReport("demo", build_report(crash_type=f"E{i % 7}", install_id=f"{i:032x}"), "crashveil-sdk",
                          NOW + timedelta(seconds=i), {})
            for i in range(first, min(first + 16, start + count))])


def test_the_writer_asks_for_statistics_once_and_the_lookup_then_probes_the_unique_index(
        tmp_path: Path, pg_url: str) -> None:
    settings = make_settings(tmp_path, pg_url)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        storage.create_project("demo", now=NOW)
        _store(storage, AFTER_REPORTS - 16, 0)
        assert storage.first_statistics.thread is None  # not yet: too few reports

        _store(storage, 64, AFTER_REPORTS)
        thread = storage.first_statistics.thread
        assert thread is not None
        thread.join(60)
        assert not thread.is_alive()
        with storage.engine.connect() as conn:
            analyzed = conn.execute(sa.text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                            "WHERE relname = 'reports'")).scalar_one()
        assert analyzed
        assert "uq_reports_project_id_report_id" in _lookup_plan(storage)

        _store(storage, AFTER_REPORTS, 2 * AFTER_REPORTS)
        assert thread is storage.first_statistics.thread  # once per writer
    finally:
        storage.close()


def test_sqlite_is_left_alone(tmp_path: Path) -> None:
    from crashveil.server.db import engine as db

    url = f"sqlite:///{tmp_path / 'crashveil.db'}"
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    settings = make_settings(tmp_path, url)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        storage.create_project("demo", now=NOW)
        _store(storage, AFTER_REPORTS + 16, 0)
        assert storage.first_statistics.thread is None
    finally:
        storage.close()


def test_closing_waits_for_the_analyze(tmp_path: Path, pg_url: str) -> None:
    """Closing the storage right after the ANALYZE began waits for it: its connection is back
    in the pool before the pool is disposed, not dropped open later (a ResourceWarning)."""
    settings = make_settings(tmp_path, pg_url)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        storage.create_project("demo", now=NOW)
        _store(storage, AFTER_REPORTS, 0)
    finally:
        storage.close()
    thread = storage.first_statistics.thread
    assert thread is not None
    assert not thread.is_alive()
