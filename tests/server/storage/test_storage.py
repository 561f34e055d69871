"""Storage: idempotent reports, encryption at rest, grouping, counts-only mode, counters, erasure."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.errors import StorageError
from crashveil.server.db.tables import group_rollups, redaction_counters, reports
from crashveil.server.storage.records import DROPPED_DETECTOR
from crashveil.server.storage.store import Storage

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)

CANARY = "canary-7f3a9c1e-do-not-store-me"


def _store(storage: Storage, report, **kw):  # type: ignore[no-untyped-def]
    args = {"origin": "crashveil-sdk", "received_at": NOW, "redaction_hits": {}, "dropped_fields": ()}
    args.update(kw)
    return storage.store_report("demo", report, **args)


def test_retry_is_stored_once_with_same_receipt(storage: Storage, make_report) -> None:
    """A report sent again answers the first receipt and is stored once."""
    report = make_report()
    first = _store(storage, report)
    second = _store(storage, report, received_at=NOW + timedelta(minutes=5))
    with storage.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
        rollup = conn.execute(sa.select(group_rollups.c.count)).scalar_one()
    assert (True, False) == (first.created, second.created)
    assert first.receipt == second.receipt
    assert (1, 1) == (stored, rollup)


def test_concurrent_retries_store_once(storage: Storage, make_report) -> None:
    """The same report sent from eight threads at once is stored once; all get one receipt."""
    report = make_report()
    results = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(_store(storage, report))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 == len({r.receipt for r in results})
    assert 1 == sum(r.created for r in results)


def test_receipts_are_unguessable_and_distinct(storage: Storage, make_report) -> None:
    """Each stored report gets its own random receipt of at least 128 bits."""
    receipts = {_store(storage, make_report()).receipt for _ in range(5)}
    assert 5 == len(receipts)
    assert all(len(r) >= 22 for r in receipts)


def test_detail_round_trips(storage: Storage, make_report) -> None:
    """The stored detail decrypts to the report as sent, pseudonym included."""
    report = make_report(message="boom")
    _store(storage, report, dropped_fields=("extra",))
    detail = storage.report_detail("demo", report.report_id)
    assert report == detail.report
    assert ("extra",) == detail.dropped_fields


def test_canary_never_in_sqlite_file(tmp_path: Path, storage: Storage, make_report) -> None:
    """A planted canary in the message and comment never appears in the database files."""
    if storage.engine.dialect.name != "sqlite":
        pytest.skip("file bytes are a SQLite matter")
    for _ in range(3):
        _store(storage, dataclasses.replace(make_report(message=CANARY), comment=CANARY * 3))
    live = b"".join(p.read_bytes() for p in tmp_path.glob("crashveil.db*"))  # database, WAL and index
    storage.close()
    checkpointed = b"".join(p.read_bytes() for p in tmp_path.glob("crashveil.db*"))
    assert (False, False) == (CANARY.encode() in live, CANARY.encode() in checkpointed)


def test_erased_ciphertext_leaves_the_sqlite_file(tmp_path: Path, storage: Storage, make_report) -> None:
    """After erasure even the ciphertext of the deleted report is gone from the file (secure_delete)."""
    if storage.engine.dialect.name != "sqlite":
        pytest.skip("file bytes are a SQLite matter")
    report = make_report(install_id="c3" * 16)
    _store(storage, report)
    with storage.engine.connect() as conn:
        blob = conn.execute(sa.select(reports.c.detail)).scalar_one()
    storage.process_deletion_request("demo", "req-9", ["c3" * 16], now=NOW)
    storage.close()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("crashveil.db*"))
    assert False is (blob[13:45] in data)


def test_read_only_database_is_storage_error(tmp_path: Path, storage: Storage, make_report) -> None:
    """A database that cannot be written fails with StorageError, never a silent success."""
    if storage.engine.dialect.name != "sqlite":
        pytest.skip("a read-only file is a SQLite matter")
    storage.close()
    path = storage.settings.database_url[len("sqlite:///"):]
    settings = dataclasses.replace(storage.settings, database_url=f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(StorageError):
        _open_and_store(settings, make_report())


def _open_and_store(settings: Any, report: Any) -> None:
    """Open a storage on ``settings`` and store ``report`` in it (either step may refuse)."""
    readonly = Storage.open(settings)
    try:
        _store(readonly, report)
    finally:
        readonly.close()


def test_no_client_ip_column(storage: Storage) -> None:
    """No column of any table is meant for an IP address."""
    from crashveil.server.db.tables import metadata

    columns = {c.name.lower() for table in metadata.tables.values() for c in table.columns}
    assert set() == {c for c in columns if "ip" in c.split("_") or "addr" in c}


def test_server_recomputes_fingerprint(storage: Storage, make_report) -> None:
    """A client-sent fingerprint that does not match the stack is replaced, and kept aside."""
    honest = make_report()
    forged = make_report(fingerprint="v1:" + "0" * 32)
    a, b = _store(storage, honest), _store(storage, forged)
    assert a.group_id == b.group_id
    assert "v1:" + "0" * 32 == storage.report_detail("demo", forged.report_id).client_fingerprint


def test_group_first_last_seen_and_releases(storage: Storage, make_report) -> None:
    """A group keeps its first release and first/last seen times."""
    first = _store(storage, make_report(release="1.0.0"))
    _store(storage, make_report(release="1.2.0"), received_at=NOW + timedelta(hours=3))
    group = storage.group("demo", first.group_id)
    assert ("1.0.0", "1.2.0", 2) == (group.first_release, group.last_release, group.total_count)
    assert (NOW, NOW + timedelta(hours=3)) == (group.first_seen, group.last_seen)


def test_regression_after_resolved_release(storage: Storage, make_report) -> None:
    """Resolved in 1.2: a report from 1.1 changes nothing, one from 1.10 regresses the group."""
    gid = _store(storage, make_report(release="1.1")).group_id
    storage.set_group_status("demo", gid, "resolved", release="1.2")
    old = _store(storage, make_report(release="1.1"))
    assert "fixed" == storage.receipt_status(old.receipt).status
    assert "resolved" == storage.group("demo", gid).status
    _store(storage, make_report(release="1.10"))
    group = storage.group("demo", gid)
    assert ("regressed", "1.10") == (group.status, group.regressed_in)


def test_ignored_group_stays_ignored(storage: Storage, make_report) -> None:
    """An ignored group does not regress."""
    gid = _store(storage, make_report(release="1.0")).group_id
    storage.set_group_status("demo", gid, "ignored")
    _store(storage, make_report(release="9.0"))
    assert "ignored" == storage.group("demo", gid).status


def test_receipt_status(storage: Storage, make_report) -> None:
    """A receipt tells grouped, then fixed with the release, and nothing for an unknown one."""
    result = _store(storage, make_report())
    assert ("grouped", None, "2026-05-01T12:00Z") == (
        storage.receipt_status(result.receipt).status, storage.receipt_status(result.receipt).fixed_in,
        storage.receipt_status(result.receipt).received_hour)
    storage.set_group_status("demo", result.group_id, "resolved", release="1.0.1")
    assert ("fixed", "1.0.1") == (storage.receipt_status(result.receipt).status,
                                  storage.receipt_status(result.receipt).fixed_in)
    assert None is storage.receipt_status("nope")


def test_mass_failure_counts_only(storage: Storage, make_report) -> None:
    """Past the hourly threshold a group's reports are counted, not stored, and listed for config."""
    sent = [make_report() for _ in range(7)]
    results = [_store(storage, report) for report in sent]  # threshold is 5 in tests
    assert [False] * 5 + [True] * 2 == [r.counts_only for r in results]
    fingerprint = storage.group("demo", results[0].group_id).fingerprint
    assert [fingerprint] == storage.counts_only_fingerprints("demo")
    assert None is storage.report_detail("demo", sent[-1].report_id)
    with storage.engine.connect() as conn:
        count, counts_only = conn.execute(sa.select(group_rollups.c.count, group_rollups.c.counts_only)).one()
    assert (7, 2) == (count, counts_only)
    assert [] == storage.counts_only_fingerprints("demo", now=NOW + timedelta(hours=3))
    next_hour = _store(storage, make_report(), received_at=NOW + timedelta(hours=1))
    assert False is next_hour.counts_only


def test_redaction_and_dropped_counters(storage: Storage, make_report) -> None:
    """Redaction hits and dropped fields add up per release, field, detector and hour."""
    hits = {("message", "email"): 2, ("comment", "home_path"): 0}
    _store(storage, make_report(), redaction_hits=hits, dropped_fields=("extra",))
    _store(storage, make_report(), redaction_hits=hits)
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(redaction_counters.c.field, redaction_counters.c.detector,
                                      redaction_counters.c.release, redaction_counters.c.hits)
                            .order_by(redaction_counters.c.field)).all()
    assert [("extra", DROPPED_DETECTOR, "1.0.0", 1), ("message", "email", "1.0.0", 4)] == [tuple(r) for r in rows]


def test_deletion_request_removes_reports_of_pseudonyms(storage: Storage, make_report) -> None:
    """Erasure deletes every report of the given pseudonyms and no other; a retry answers the record."""
    alice, bob = "a1" * 16, "b2" * 16
    kept = make_report(install_id=bob)
    for _ in range(3):
        _store(storage, make_report(install_id=alice))
    _store(storage, kept)
    record = storage.process_deletion_request("demo", "req-1", [alice], now=NOW)
    again = storage.process_deletion_request("demo", "req-1", [alice], now=NOW + timedelta(hours=1))
    with storage.engine.connect() as conn:
        left = conn.execute(sa.select(reports.c.install_id)).scalars().all()
    assert ("req-1", 3, NOW) == (record.request_id, record.deleted_count, record.processed_at)
    assert (3, NOW) == (again.deleted_count, again.processed_at)
    assert [bob] == left


def test_project_record(storage: Storage) -> None:
    """A project carries its policy by digest, a key pair and a signing key."""
    project = storage.project("demo")
    assert [project.digest] == list(project.policies)
    assert (1, 1, False) == (len(project.keypairs), len(project.signing_keys), project.public_summary)
    assert None is storage.project("missing")


def test_store_fails_as_storage_error(storage: Storage, make_report) -> None:
    """A database failure surfaces as StorageError (the ingest side answers 503)."""
    with pytest.raises(StorageError):
        storage.store_report("no-such-project", make_report(), origin="crashveil-sdk", received_at=NOW,
                             redaction_hits={}, dropped_fields=())


def test_threads_that_miss_the_project_cache_together_load_it_once(storage: Storage,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request in flight misses the cache when its entry expires: one loads, the
    others wait for it and take its record."""
    storage.settings = dataclasses.replace(storage.settings, project_cache_s=60.0)
    storage._projects.clear()
    loads: list[str] = []
    load = storage._load_project
    started = threading.Barrier(8)

    def counted(project_id: str) -> object:
        loads.append(project_id)
        return load(project_id)

    monkeypatch.setattr(storage, "_load_project", counted)
    records: list[object] = []

    def ask() -> None:
        started.wait()
        records.append(storage.project("demo"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ["demo"] == loads
    assert 8 == len(records) and all(record is records[0] for record in records)
    assert storage.project("demo", fresh=True) is not records[0] and ["demo", "demo"] == loads
