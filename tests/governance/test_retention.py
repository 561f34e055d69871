"""Retention with an injected clock: per-field classes, whole reports, day-key shredding,
roll-ups, dry runs, and that earlier copies and the SQLite files keep nothing expired."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.errors import SealError
from crashveil.server.db.tables import data_keys, group_rollups, reports
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.retention import (
    RetentionResult,
    retention_classes,
    run_retention,
)
from crashveil.server.keys.crypto import decrypt_detail, detail_aad, unwrap_key
from crashveil.server.storage.store import Storage

NOW_DAYS = 0
CANARY = "c0ffee" * 5 + "ab"  # a 32-hex pseudonym stored in clear, then expired


def _store(storage: Storage, make_report, received_at, *, install_id: str = "ab" * 16, message: str = "msg text"):
    report = make_report(install_id=install_id, message=message)
    storage.store_report("demo", report, origin="crashveil-sdk", received_at=received_at, redaction_hits={},
                         dropped_fields=())
    return report.report_id


def _detail(storage: Storage, report_id: str):
    stored = storage.report_detail("demo", report_id)
    return None if stored is None else stored.report


def _snapshot(storage: Storage) -> tuple[list, list]:
    with storage.engine.connect() as conn:
        return (conn.execute(sa.select(reports.c.report_id, reports.c.day, reports.c.detail)).all(),
                conn.execute(sa.select(data_keys.c.key_id, data_keys.c.kek_id, data_keys.c.wrapped_dek)).all())


def _decryptable(storage: Storage, snapshot: tuple[list, list], report_id: str, kek_snapshot: dict) -> bool:
    """Whether any key still existing (in the KEK file or live in the database) opens the copy's blob."""
    rows, keys = snapshot
    row = next(r for r in rows if r.report_id == report_id)
    candidates = []
    live_keks = {kid: base64.b64decode(entry["key"])
                 for kid, entry in json.loads(storage.settings.kek_path.read_text())["keys"].items()}
    for key in keys:  # the copy's wrapped keys, under any KEK that still exists
        for kek in live_keks.values():
            try:
                candidates.append(unwrap_key(kek, key.wrapped_dek, key_id=key.key_id))
            except (SealError, TypeError):
                pass
    with storage.engine.connect() as conn:  # and every day key live now
        for live in conn.execute(sa.select(data_keys).where(data_keys.c.wrapped_dek.is_not(None))).all():
            candidates.append(storage.keys.data_key_for_read(conn, live.key_id))
    for dek in candidates:
        try:
            decrypt_detail(dek, row.detail, aad=detail_aad("demo", report_id, row.day))
            return True
        except SealError:
            pass
    return False


def _trail(storage: Storage) -> AuditTrail:
    return AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir, now=lambda: storage._clock())


def test_classes_of_the_default_policy() -> None:
    """The default policy has one shorter class: free text (and source lines) at 30 days."""
    from crashveil.policy import default_policy

    assert [(30, ("breadcrumbs", "comment", "message", "message_template", "source_context"))] == \
        retention_classes(default_policy())


def test_short_fields_go_first_then_whole_reports(shred_storage: Storage, make_report) -> None:
    """At 31 days the message is gone but the stack stays; at 91 days the report is gone; a fresh one is whole."""
    now = shred_storage._clock()
    fresh = _store(shred_storage, make_report, now - timedelta(days=1))
    month = _store(shred_storage, make_report, now - timedelta(days=31))
    old = _store(shred_storage, make_report, now - timedelta(days=91))
    result = run_retention(shred_storage, _trail(shred_storage), now=now)
    kept = _detail(shred_storage, month)
    assert ("msg text", None, True, None, 1, 1) == (
        _detail(shred_storage, fresh).message, kept.message, kept.stack is not None, _detail(shred_storage, old),
        result.projects[0].reports_deleted, result.projects[0].details_rewritten)


def test_retention_boundary_one_second(shred_storage: Storage, make_report) -> None:
    """A report one second short of 90 days stays; one second past it goes."""
    now = shred_storage._clock()
    inside = _store(shred_storage, make_report, now - timedelta(days=90) + timedelta(seconds=1))
    outside = _store(shred_storage, make_report, now - timedelta(days=90) - timedelta(seconds=1))
    run_retention(shred_storage, _trail(shred_storage), now=now)
    with shred_storage.engine.connect() as conn:
        left = set(conn.execute(sa.select(reports.c.report_id)).scalars())
    assert ({inside}, False) == (left & {inside, outside}, outside in left)


def test_expired_day_key_is_destroyed(shred_storage: Storage, make_report) -> None:
    """The data key of a day whose reports all expired is erased from the database."""
    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=92))
    result = run_retention(shred_storage, _trail(shred_storage), now=now)
    with shred_storage.engine.connect() as conn:
        row = conn.execute(sa.select(data_keys.c.wrapped_dek, data_keys.c.destroyed_at)
                           .where(data_keys.c.key_id == result.projects[0].keys_destroyed[0])).one()
    assert (1, None, True) == (len(result.projects[0].keys_destroyed), row.wrapped_dek, row.destroyed_at is not None)


def test_earlier_copy_cannot_be_decrypted_after_shredding(shred_storage: Storage, make_report) -> None:
    """In a copy taken before the run, expired and stripped blobs open with no remaining key; a kept one still does."""
    now = shred_storage._clock()
    fresh = _store(shred_storage, make_report, now - timedelta(days=1))
    month = _store(shred_storage, make_report, now - timedelta(days=31))
    old = _store(shred_storage, make_report, now - timedelta(days=91))
    copy = _snapshot(shred_storage)
    before = [_decryptable(shred_storage, copy, r, {}) for r in (fresh, month, old)]
    result = run_retention(shred_storage, _trail(shred_storage), now=now)
    after = [_decryptable(shred_storage, copy, r, {}) for r in (fresh, month, old)]
    assert ([True, True, True], [True, False, False], True) == (before, after, bool(result.keks_destroyed))


def test_dry_run_changes_nothing_and_counts_the_same(shred_storage: Storage, make_report) -> None:
    """A dry run reports what a real run then does, and leaves every row in place."""
    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=31))
    _store(shred_storage, make_report, now - timedelta(days=91))
    dry = run_retention(shred_storage, _trail(shred_storage), now=now, dry_run=True)
    with shred_storage.engine.connect() as conn:
        count_after_dry = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
    real = run_retention(shred_storage, _trail(shred_storage), now=now)
    def summary(r: RetentionResult) -> list[tuple[int, int, int, int]]:
        return [(p.reports_deleted, p.keys_destroyed, p.stripped, p.details_rewritten) for p in r.projects]

    assert (2, summary(real)) == (count_after_dry, summary(dry))


def test_rollups_follow_their_own_retention(shred_storage: Storage, make_report) -> None:
    """Roll-up counts outlive the reports and go after their own 365 days (counted by the hour they describe)."""
    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=100))
    run_retention(shred_storage, _trail(shred_storage), now=now)
    with shred_storage.engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(group_rollups)).scalar_one()
    result = run_retention(shred_storage, _trail(shred_storage), now=now + timedelta(days=366))
    with shred_storage.engine.connect() as conn:
        gone = conn.execute(sa.select(sa.func.count()).select_from(group_rollups)).scalar_one()
    assert (1, 0, 1) == (kept, gone, result.projects[0].groups_deleted)


def test_second_run_is_idempotent(shred_storage: Storage, make_report) -> None:
    """Running twice at the same instant does nothing the second time."""
    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=31))
    run_retention(shred_storage, _trail(shred_storage), now=now)
    second = run_retention(shred_storage, _trail(shred_storage), now=now)
    assert ([], 0, None) == (second.projects[0].stripped, second.projects[0].reports_deleted, second.kek_rotated)


def test_run_is_audited_and_trail_verifies(shred_storage: Storage, make_report) -> None:
    """A run writes one retention.run entry with key ids and counts, and the trail stays valid."""
    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=91))
    trail = _trail(shred_storage)
    run_retention(shred_storage, trail, now=now)
    entry = trail.entries()[-1]
    assert ("retention.run", 1, True, "msg text" in entry.detail) == (
        entry.action, entry.details["reports_deleted"], trail.verify().ok, False)


def test_canary_absent_from_sqlite_file_and_wal(shred_storage: Storage, make_report) -> None:
    """A pseudonym stored in clear is in the SQLite files before the run and nowhere in them after."""
    if not shred_storage.settings.database_url.startswith("sqlite"):
        pytest.skip("file-level check of SQLite")
    now = shred_storage._clock()
    for _ in range(3):
        _store(shred_storage, make_report, now - timedelta(days=91), install_id=CANARY)
    _store(shred_storage, make_report, now - timedelta(days=1))
    path = Path(shred_storage.settings.database_url[len("sqlite:///"):])
    files = [path, path.with_name(path.name + "-wal")]
    def raw() -> bytes:
        return b"".join(f.read_bytes() for f in files if f.exists())

    before = CANARY.encode() in raw()
    result = run_retention(shred_storage, _trail(shred_storage), now=now)
    assert (True, False, "truncated") == (before, CANARY.encode() in raw(), result.wal_checkpoint)


def test_the_servers_periodic_job_runs_retention_under_its_lease(shred_storage: Storage, make_report) -> None:
    """The server's retention job (``cluster.periodic`` under the retention lease) runs a pass
    soon after it starts, and stops cleanly."""
    import asyncio

    from crashveil.server.cluster.lease import Lease
    from crashveil.server.cluster.periodic import PeriodicJob

    now = shred_storage._clock()
    _store(shred_storage, make_report, now - timedelta(days=91))
    results: list[RetentionResult] = []
    job = PeriodicJob(Lease(shred_storage.engine, "retention", "host-a:1"),
                      lambda: results.append(run_retention(shred_storage, _trail(shred_storage), now=now)),
                      poll_s=0.05)

    async def main() -> None:
        job.start()
        for _ in range(200):  # poll with a deadline: at most 200 x 50 ms for the first run
            if results:
                break
            await asyncio.sleep(0.05)
        await job.stop()

    asyncio.run(main())
    assert [1] == [r.projects[0].reports_deleted for r in results[:1]]


def test_a_lagging_host_defers_the_kek_rotation_and_the_next_run_resumes_it(shred_storage: Storage,
                                                                          make_report) -> None:
    """Several hosts: after shredding, the run's new KEK has not reached a live host. The run
    still finishes (and says which host it waits for) instead of failing, nothing is rewrapped
    under a KEK that host lacks, and the next run resumes the same KEK instead of making another."""
    from datetime import UTC, datetime

    from crashveil.server.db.tables import project_keys
    from crashveil.server.keys.hosts import record_heartbeat

    shred_storage.settings = type(shred_storage.settings)(
        **{**shred_storage.settings.__dict__, "kek_heartbeat_s": 0.1, "host_id": "host-a"})
    now = shred_storage._clock()
    old = shred_storage.keys.provider.current_id()
    record_heartbeat(shred_storage.engine, shred_storage.keys.provider, host="host-b", process_id="host-b:1",
                     now=datetime.now(UTC))
    _store(shred_storage, make_report, now - timedelta(days=31))
    first = run_retention(shred_storage, _trail(shred_storage), now=now)
    pending = shred_storage.keys.provider.current_id()
    with shred_storage.engine.connect() as conn:
        wrapped_under = set(conn.execute(sa.select(project_keys.c.kek_id)).scalars())
    record_heartbeat(shred_storage.engine, shred_storage.keys.provider, host="host-b", process_id="host-b:1",
                     now=datetime.now(UTC))
    second = run_retention(shred_storage, _trail(shred_storage), now=now + timedelta(hours=1))
    assert (None, ["host-b"], {old}) == (first.kek_rotated, first.kek_waiting_for, wrapped_under)
    assert (pending, []) == (second.kek_rotated, second.kek_waiting_for)
    assert pending != old
