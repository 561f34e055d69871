"""Group commit: many reports in one transaction (Storage.store_reports), the writer thread
that batches them (ingest.GroupCommitter), and the memoised redaction on the ingest path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.errors import StorageError
from crashveil.server.db.rollup_tables import group_daily_rollups
from crashveil.server.db.tables import (
    crash_groups,
    group_rollups,
    redaction_counters,
    reports,
)
from crashveil.server.ingest.commit import GroupCommitter
from crashveil.server.ingest.redaction import RedactionMemo, redact_report
from crashveil.server.storage.records import PendingReport
from crashveil.server.storage.store import Storage
from crashveil.wire import Frame, Report, Stack

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _pending(report: Report, *, at: datetime = NOW, hits: dict | None = None,
             dropped: tuple[str, ...] = ()) -> PendingReport:
    return PendingReport("demo", report, "crashveil-sdk", at, hits or {}, dropped)


def test_batch_equals_one_by_one(storage: Storage, make_report: Callable[..., Report]) -> None:
    """A batch stores what the same reports stored one by one would: rows, groups, roll-ups, counters."""
    batch = [_pending(make_report(function=f"f{i % 3}", release=f"1.{i % 2}", install_id=f"{i % 4:032x}"),
                      at=NOW + timedelta(minutes=i), hits={("message", "email"): i % 2}, dropped=("x.y",))
             for i in range(12)]
    results = storage.store_reports(batch)
    assert all(r.created for r in results) and len({r.receipt for r in results}) == 12
    with storage.engine.connect() as conn:
        n_reports = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
        hourly = conn.execute(sa.select(sa.func.sum(group_rollups.c.count))).scalar_one()
        daily = conn.execute(sa.select(sa.func.sum(group_daily_rollups.c.count))).scalar_one()
        groups = conn.execute(sa.select(crash_groups.c.total_count).order_by(crash_groups.c.id)).scalars().all()
        hits = dict(conn.execute(sa.select(redaction_counters.c.detector, sa.func.sum(redaction_counters.c.hits))
                                 .group_by(redaction_counters.c.detector)).all())
    assert (12, 12, 12, [4, 4, 4], {"email": 6, "_dropped": 12}) == (n_reports, hourly, daily, groups, hits)
    for item in batch:
        assert storage.report_detail("demo", item.report.report_id) is not None


def test_duplicates_in_and_across_batches_get_one_receipt(storage: Storage,
                                                          make_report: Callable[..., Report]) -> None:
    report, other = make_report(), make_report()
    first = storage.store_reports([_pending(report), _pending(other), _pending(report)])
    again = storage.store_reports([_pending(report, at=NOW + timedelta(minutes=3))])
    assert first[0].receipt == first[2].receipt == again[0].receipt
    assert (True, True, False, False) == (first[0].created, first[1].created, first[2].created, again[0].created)
    with storage.engine.connect() as conn:
        assert 2 == conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
        assert 2 == conn.execute(sa.select(sa.func.sum(group_rollups.c.count))).scalar_one()


def test_mass_failure_threshold_inside_a_batch(tmp_path: Any, database_url: str,
                                               make_report: Callable[..., Report]) -> None:
    """The hour's count crosses mass_failure_per_hour in the middle of a batch: later reports are counts-only."""
    from crashveil.server.keys.kek import FileKeyProvider

    from ..conftest import make_settings

    settings = make_settings(tmp_path, database_url, mass_failure_per_hour=3)
    from crashveil.server.db import engine as db

    engine = db.create_engine(settings.database_url)
    db.migrate(engine)
    engine.dispose()
    FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=1))
    storage = Storage.open(settings, clock=lambda: NOW)
    storage.create_project("demo", now=NOW - timedelta(days=1))
    results = storage.store_reports([_pending(make_report()) for _ in range(5)])
    storage.close()
    assert [False, False, False, True, True] == [r.counts_only for r in results]


def test_failed_batch_fails_every_future_and_stores_nothing() -> None:
    def store_many(batch: list[Any]) -> list[Any]:
        raise StorageError("database is locked (test)")

    committer = GroupCommitter(store_many)
    futures = [committer.submit(i) for i in range(5)]
    for future in futures:
        with pytest.raises(StorageError):
            future.result(timeout=5)
    committer.close()
    with pytest.raises(StorageError):
        committer.submit(0)


def test_writer_batches_concurrent_submissions() -> None:
    gate = threading.Event()
    seen: list[list[int]] = []

    def store_many(batch: list[int]) -> list[int]:
        gate.wait(5)
        seen.append(list(batch))
        return [x * 10 for x in batch]

    committer = GroupCommitter(store_many, max_batch=64)
    first = committer.submit(0)
    rest = [committer.submit(i) for i in range(1, 20)]
    gate.set()
    assert [0] + [i * 10 for i in range(1, 20)] == [first.result(5)] + [f.result(5) for f in rest]
    committer.close()
    assert len(seen) <= 3 and sum(len(b) for b in seen) == 20  # the queued ones went together


def test_memoised_redaction_is_identical(make_report: Callable[..., Report]) -> None:
    """Memoised frames give the same report and hits as redacting every string."""
    from crashveil.policy import default_policy
    from crashveil.redact import Redactor

    policy = default_policy()
    redactor = Redactor(policy.redaction.detectors, policy.redaction.placeholders)

    def redact(text: str, kind: str) -> Any:
        return redactor.redact_counted(text, kind=kind)

    memo = RedactionMemo()
    frames = (Frame("/home/alice/app/main.py", "main", 10, True), Frame("app/x.py", "mail_bob@example.com", 3, True),
              Frame("/home/alice/app/main.py", "main", 10, True), Frame("C:\\Users\\bob\\a.py", "f", 1, False))
    import dataclasses

    for _ in range(3):
        report = dataclasses.replace(make_report(message="mail me at carol@example.com"), stack=Stack(frames))
        assert redact_report(report, redact) == redact_report(report, redact, frame_memo=memo)


def test_writer_with_a_gap_gathers_reports_that_keep_coming_and_commits_a_lone_one_soon() -> None:
    """PostgreSQL's gathering (``BatchWait``): reports arriving within the gap join one batch;
    once none comes for the gap the batch goes, long before ``max_wait_s``."""
    seen: list[list[int]] = []

    def store_many(batch: list[int]) -> list[int]:
        seen.append(list(batch))
        return batch

    committer = GroupCommitter(store_many, max_wait_s=30.0, gap_s=0.5)
    futures = [committer.submit(i) for i in range(10)]
    assert list(range(10)) == [f.result(10) for f in futures]
    assert [list(range(10))] == seen  # one batch, though the writer took the first at once
    started = time.monotonic()
    assert 10 == committer.submit(10).result(10)
    assert time.monotonic() - started < 10  # the gap, not the 30 s bound
    committer.close()
