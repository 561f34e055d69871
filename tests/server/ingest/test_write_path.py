"""The group-commit write path's fast parts give what the plain ones give.

Row material computed before the transaction (``Storage.seal_pending``), the detail JSON,
bulk writes on the SQLite cursor, padded IN lists, reports that join a batch once the write
lock is held, the writer lock between processes, and the memos on the ingest path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from crashveil.policy import compute_fingerprint
from crashveil.server.db import engine as db
from crashveil.server.db.tables import crash_groups, reports
from crashveil.server.ingest import grouping
from crashveil.server.ingest.commit import GroupCommitter
from crashveil.server.ingest.redaction import RedactionMemo, redact_report
from crashveil.server.storage.detail import detail_json
from crashveil.server.storage.records import PendingReport, StoreRow, day_of, hour_of
from crashveil.server.storage.store import Storage
from crashveil.wire import Frame, Report, Stack
from crashveil.wire.canonical import canonical_json

from ..conftest import build_report

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
_SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def _pending(report: Report, *, at: datetime = NOW) -> PendingReport:
    return PendingReport("demo", report, "crashveil-sdk", at, {}, ())


def _stored_detail(storage: Storage, report_id: str) -> bytes:
    with storage.engine.connect() as conn:
        return conn.execute(sa.select(reports.c.detail).where(reports.c.report_id == report_id)).scalar_one()


# --- row material and the detail --------------------------------------------------------------

@_SETTINGS
@given(message=st.none() | _text, comment=st.none() | _text, release=st.none() | _text,
       frames=st.lists(st.tuples(_text, _text, st.integers(0, 99), st.booleans()), max_size=4),
       dropped=st.lists(_text, max_size=3))
def test_detail_json_is_the_canonical_json_of_the_report(message: Any, comment: Any, release: Any,
                                                         frames: list[Any], dropped: list[str]) -> None:
    report = dataclasses.replace(build_report(message=message, release=release), comment=comment,
                                 stack=Stack(tuple(Frame(*f) for f in frames)) if frames else None)
    body = report.to_dict()
    del body["install_id"]
    body["fingerprint"] = "v1:" + "0" * 32
    server = {"client_fingerprint": report.fingerprint, **({"dropped_fields": dropped} if dropped else {})}
    assert canonical_json({"report": body, "server": server}) == detail_json(report, "v1:" + "0" * 32, dropped)


@_SETTINGS
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), st.integers(-14, 14))
def test_hour_and_day_strings(moment: datetime, offset: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(hours=offset)))
    utc = aware.astimezone(UTC)
    assert (utc.strftime("%Y-%m-%dT%H:00Z"), utc.strftime("%Y-%m-%d")) == (hour_of(aware), day_of(aware))


def test_detail_sealed_before_the_transaction_is_stored_only_under_the_same_key(
        storage: Storage, make_report: Callable[..., Report]) -> None:
    first = storage.row(_pending(make_report()))
    assert first.sealed is None  # the day's key is not known yet: the writer seals it
    storage.store_rows([first])
    second, other = storage.row(_pending(make_report())), storage.row(_pending(make_report()))
    assert second.sealed is not None and b"\x00" * 32 not in second.sealed[1]
    forged = dataclasses.replace(other, sealed=(second.sealed[0], bytes(16), b"\x01" + bytes(60)))  # not the key
    storage.store_rows([second, forged])
    assert second.sealed[2] == _stored_detail(storage, second.report_id)
    assert _stored_detail(storage, forged.report_id) != b"\x01" + bytes(60)
    for row in (first, second, forged):
        detail = storage.report_detail("demo", row.report_id)
        assert detail is not None and detail.report.report_id == row.report_id


def test_rows_pickle_small(storage: Storage, make_report: Callable[..., Report]) -> None:
    """What a front process sends the writer: no frames, no message, no data key."""
    import pickle

    row = storage.row(_pending(make_report(message="m" * 2000)))
    assert pickle.loads(pickle.dumps(row)) == row
    assert set(StoreRow.__dataclass_fields__) >= {"plaintext", "sealed"} and not hasattr(row, "report")


# --- statements --------------------------------------------------------------------------------

def test_batches_beyond_every_in_list_size_store_and_find_everything(storage: Storage) -> None:
    """Padded IN lists (1, 2, 4 ... 256, 500) and chunks of 500: every group and retry found."""
    batch = [_pending(build_report(crash_type=f"E{i % 300}", install_id=f"{i % 7:032x}")) for i in range(620)]
    results = storage.store_reports(batch)
    again = storage.store_reports(batch[:3] + batch[-40:] + [_pending(build_report(crash_type="E0"))])
    assert all(r.created for r in results) and [False] * 43 + [True] == [r.created for r in again]
    assert [r.receipt for r in results[:3] + results[-40:]] == [r.receipt for r in again[:43]]
    with storage.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(crash_groups.c.crash_type, crash_groups.c.total_count)).all())
    assert (300, 621, 4) == (len(counts), sum(counts.values()), counts["E0"])


def test_bulk_write_rows_equal_sqlalchemy_rows_and_errors_stay_sqlalchemy_errors(storage: Storage) -> None:
    def build(conn: sa.Connection) -> Any:
        return db.dialect_insert(conn, crash_groups)

    bulk = db.BulkWrite(build, ["project_id", "fingerprint", "crash_type", "first_seen", "last_seen", "status",
                                "total_count", "hour_count", "first_release"])
    row = dict(project_id="demo", fingerprint="v1:" + "1" * 32, crash_type="E", first_seen=NOW,
               last_seen=NOW + timedelta(microseconds=5), status="open", total_count=1, hour_count=1,
               first_release=None)
    with db.write_tx(storage.engine) as conn:
        bulk(conn, [row])
        conn.execute(crash_groups.insert(), [{**row, "fingerprint": "v1:" + "2" * 32}])
    with storage.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT first_seen, last_seen, first_release, total_count FROM crash_groups"
                                      " ORDER BY fingerprint").all()
    assert stored[0] == stored[1]
    with pytest.raises(sa.exc.IntegrityError), db.write_tx(storage.engine) as conn:
        bulk(conn, [row])


# --- group commit --------------------------------------------------------------------------------

def test_reports_queued_while_the_writer_waits_for_the_lock_join_its_batch() -> None:
    queued = threading.Event()
    calls: list[tuple[list[int], list[int]]] = []
    paused: list[bool] = []

    def store_many(batch: list[int], *, more: Callable[[], list[int]], sql_done: Callable[[], None]) -> list[int]:
        queued.wait(5)  # "waiting for the write lock" while more reports are queued
        late = more()
        paused.append(committer.writing)
        calls.append((list(batch), list(late)))
        sql_done()
        paused.append(committer.writing)
        return [x * 10 for x in batch + late]

    committer = GroupCommitter(store_many, max_batch=64)
    first = committer.submit(0)
    rest = [committer.submit(i) for i in range(1, 10)]
    queued.set()
    assert [i * 10 for i in range(10)] == [first.result(5)] + [f.result(5) for f in rest]
    committer.close()
    assert 1 == len(calls) and list(range(10)) == calls[0][0] + calls[0][1]  # one transaction for all
    assert [True, False] == paused


def test_event_loop_futures_are_settled_after_their_batch_and_prepares_wait_for_the_statements() -> None:
    release = threading.Event()
    order: list[str] = []

    def store_many(batch: list[int], *, more: Callable[[], list[int]], sql_done: Callable[[], None]) -> list[int]:
        batch = batch + more()
        release.wait(5)
        order.append("statements")
        sql_done()
        return batch

    committer = GroupCommitter(store_many)

    async def main() -> list[int]:
        futures = [committer.submit_async(i) for i in range(5)]
        deadline = time.monotonic() + 10
        while not committer.writing:  # poll until the writer has taken the batch
            assert time.monotonic() < deadline, "the writer did not start"
            await asyncio.sleep(0.001)
        pause = asyncio.ensure_future(committer.writer_pause())
        # Two turns of the loop: the pause has run up to its wait on the writer (a future only
        # the writer's sql_done settles, and the writer is held by ``release``).
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not pause.done()  # the loop holds back CPU work while the writer runs statements
        release.set()
        await pause
        order.append("prepare")
        return list(await asyncio.gather(*futures))

    assert list(range(5)) == asyncio.run(main())
    committer.close()
    assert ["statements", "prepare"] == order


def test_a_store_that_loses_reports_fails_the_batch_instead_of_hanging() -> None:
    def store_many(batch: list[int], *, more: Callable[[], list[int]], sql_done: Callable[[], None]) -> list[int]:
        more()
        return batch[:1]  # answers for fewer reports than it was given

    committer = GroupCommitter(store_many)
    futures = [committer.submit(i) for i in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError):
            future.result(5)
    committer.close()


# --- the writer lock ---------------------------------------------------------------------------

def _hold_write_lock(url: str, ready: Any, done: Any) -> None:
    engine = db.create_engine(url)
    with db.write_tx(engine):
        ready.set()
        done.wait(10)
    engine.dispose()


def test_sqlite_writers_of_all_processes_take_one_lock(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    child = context.Process(target=_hold_write_lock, args=(url, ready, done))
    child.start()
    try:
        assert ready.wait(30)
        fd = os.open(tmp_path / "x.db-writer.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done.set()
        child.join(30)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the transaction
        os.close(fd)
    finally:
        done.set()
        child.join(30)


# --- memos ---------------------------------------------------------------------------------------

def test_fingerprint_memo_answers_what_compute_fingerprint_answers() -> None:
    frames = (Frame("app/a.py", "f", 1, True), Frame("lib/b.py", "g", 2, False))
    report = build_report()
    for crash_type, stack in [("A", frames), ("B", frames), ("A", frames[:1]), ("A", tuple(frames))]:
        item = dataclasses.replace(report, crash_type=crash_type, stack=Stack(stack))
        for _ in range(2):
            assert compute_fingerprint(crash_type, stack) == grouping.report_fingerprint(item)
    assert compute_fingerprint(report.crash_type, ()) == grouping.report_fingerprint(
        dataclasses.replace(report, stack=None))


def test_stack_memo_tells_apart_texts_split_differently() -> None:
    """(file "a\\0b", function "c") and (file "a", function "b\\0c") are different frames."""
    def redact(text: str, kind: str) -> tuple[str, dict[str, int]]:
        return f"{kind}:{text}", {}

    memo = RedactionMemo()
    one = dataclasses.replace(build_report(), stack=Stack((Frame("a\0b", "c", 1, True),)))
    two = dataclasses.replace(build_report(), stack=Stack((Frame("a", "b\0c", 1, True),)))
    for report in (one, two, one, two):
        assert redact_report(report, redact) == redact_report(report, redact, frame_memo=memo)


def test_environment_memo_gives_what_redacting_each_string_gives() -> None:
    """The memoised environment: same report, same hits, whether it changes or not."""
    from crashveil.wire import Environment

    def redact(text: str, kind: str) -> tuple[str, dict[str, int]]:
        return text.replace("secret", "<x>"), {"word": text.count("secret")}

    memo = RedactionMemo()
    plain = build_report()
    leaky = dataclasses.replace(plain, environment=Environment("linux", "secret-6 secret", "cpython", "3.11", "secret"))
    split = dataclasses.replace(plain, environment=Environment("linux", "6", "cpython", "3.1", "1x86_64"))
    for report in (plain, leaky, split, plain, leaky, split, leaky):
        expected = redact_report(report, redact)
        assert expected == redact_report(report, redact, frame_memo=memo)
    assert {("environment.os_version", "word"): 2, ("environment.arch", "word"): 1} == {
        key: n for key, n in redact_report(leaky, redact, frame_memo=memo)[1].items() if key[0].startswith("env")}


def test_a_front_learns_the_day_key_and_seals_what_the_writer_stores(
        settings: Any, storage: Storage, make_report: Callable[..., Report]) -> None:
    """A process that only prepares rows reads the day's data key once it exists."""
    front = Storage.open(settings, clock=lambda: NOW)
    try:
        assert not front.learn_data_key("demo", "2026-05-01")  # not created yet
        storage.store_rows([storage.row(_pending(make_report()))])  # the writer creates it
        assert front.learn_data_key("demo", "2026-05-01")
        row = front.row(_pending(make_report()))
        assert row.sealed is not None
        storage.store_rows([row])
        assert row.sealed[2] == _stored_detail(storage, row.report_id)
    finally:
        front.close()


def test_fetch_all_reads_what_sqlalchemy_reads(storage: Storage, make_report: Callable[..., Report]) -> None:
    storage.store_reports([_pending(make_report()) for _ in range(3)])
    stmt = sa.select(reports.c.report_id, reports.c.group_id, reports.c.detail.is_(None)).where(
        reports.c.project_id == sa.bindparam("p")).order_by(reports.c.report_id)
    with storage.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(stmt, {"p": "demo"})] == [
            tuple(r) for r in db.fetch_all(conn, stmt, {"p": "demo"})]


def test_fetch_dicts_reads_what_sqlalchemy_reads(storage: Storage, make_report: Callable[..., Report]) -> None:
    """Aware datetimes, NULLs and all: ``dict(row._mapping)`` of every row, in order."""
    storage.store_reports([_pending(make_report(crash_type=name)) for name in ("KeyError", "OSError", "KeyError")])
    group = storage.store_reports([_pending(make_report(crash_type="TypeError"))])[0].group_id
    storage.set_group_status("demo", group, grouping.RESOLVED, release="1.0.1", now=NOW)
    stmt = sa.select(crash_groups).where(crash_groups.c.project_id == sa.bindparam("p")).order_by(crash_groups.c.id)
    with storage.engine.connect() as conn:
        expected = [dict(r._mapping) for r in conn.execute(stmt, {"p": "demo"})]
        assert 3 == len(expected) and expected[-1]["resolved_at"] == NOW and expected[0]["resolved_at"] is None
        fetched = db.fetch_dicts(conn, stmt, {"p": "demo"})
        assert expected == fetched
        assert [type(v) for v in expected[-1].values()] == [type(v) for v in fetched[-1].values()]


def test_only_the_latest_days_key_stays_in_memory(storage: Storage, make_report: Callable[..., Report]) -> None:
    for days_ago in (3, 2, 1, 0):
        storage.store_reports([_pending(make_report(), at=NOW - timedelta(days=days_ago))])
    assert {"2026-05-01"} == {day for _, day in storage._recent_deks}
    storage.destroy_expired_keys(now=NOW)
    assert {} == storage._recent_deks
