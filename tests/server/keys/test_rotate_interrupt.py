"""``crashveil keys rotate`` over many day keys: progress lines while it rewraps, and a real
SIGTERM stops it between committed batches. Every report still decrypts and sealed reports
still open while the rotation is half done (the old KEK stays in the file), the audit trail
records the run as interrupted, and running it again finishes under the same new KEK.

The tests wait on what they can see (a progress line), never for a fixed time: the first
batch waits for a SQLite write lock the test holds, so the signal lands mid-rotation."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
sa = pytest.importorskip("sqlalchemy")

from crashveil.sdk.delivery.seal import seal_report  # noqa: E402
from crashveil.server.db.engine import write_tx  # noqa: E402
from crashveil.server.db.tables import data_keys  # noqa: E402
from crashveil.server.keys.crypto import open_report  # noqa: E402

DAY_KEYS = 300
RECEIVED = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _servers() -> Any:
    name = "crashveil_tests_servers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[2] / "_servers.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}, **extra}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=300,
                          env=_env(), stdin=subprocess.DEVNULL)


def _server_with_day_keys(tmp_path: Path, make_report: Callable[..., Any]) -> tuple[Any, list[str]]:
    """A server directory with a few stored reports and ``DAY_KEYS`` data keys in all, made
    through the real key ring (one key per day, as ingest makes them)."""
    source = _servers().init_server_dir(tmp_path / "srv")
    storage = source.storage()
    try:
        stored = []
        for day in range(4):
            report = make_report(message=f"m{day}")
            storage.store_report("demo", report, origin="crashveil-sdk", received_at=RECEIVED + timedelta(days=day),
                                 redaction_hits={}, dropped_fields=())
            stored.append(report.report_id)
        with write_tx(storage.engine) as conn:
            first = date(2025, 1, 1)
            for offset in range(DAY_KEYS - len(stored)):
                storage.keys.data_key_for_write(conn, "demo", (first + timedelta(days=offset)).isoformat(),
                                                now=RECEIVED)
    finally:
        storage.close()
    return source, stored


def _kek_ids(source: Any) -> dict[str, int]:
    storage = source.storage()
    try:
        with storage.engine.connect() as conn:
            return dict(conn.execute(sa.select(data_keys.c.kek_id, sa.func.count()).group_by(data_keys.c.kek_id))
                        .all())
    finally:
        storage.close()


def test_rotation_over_many_day_keys_shows_progress(tmp_path: Path, make_report: Callable[..., Any]) -> None:
    source, _ = _server_with_day_keys(tmp_path, make_report)
    done = _cli("keys", "rotate", "--yes", "--progress", "--batch-size", "64", "--server-dir", str(source.path))
    assert 0 == done.returncode, done.stderr
    lines = done.stderr.splitlines()
    assert f"KEK rotation: rewrapping data keys: 0 keys of {DAY_KEYS} keys (0%)" in lines, done.stderr
    assert f"KEK rotation: rewrapping data keys: {DAY_KEYS} keys of {DAY_KEYS} keys (100%) done" in lines
    assert "project keys: project 1 of 1 ... done" in lines, done.stderr
    assert f"rewrapped: {DAY_KEYS} data keys" in done.stdout
    assert [DAY_KEYS] == list(_kek_ids(source).values())


def test_sigterm_mid_rotation_keeps_every_key_readable_and_a_rerun_finishes(
        tmp_path: Path, make_report: Callable[..., Any]) -> None:
    source, stored = _server_with_day_keys(tmp_path, make_report)
    old_kek = next(iter(_kek_ids(source)))
    holder = sqlite3.connect(source.path / "crashveil.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the first batch waits for this lock: the signal lands mid-rotation
    proc = subprocess.Popen([sys.executable, "-m", "crashveil", "keys", "rotate", "--yes", "--no-project-keys",
                             "--progress", "--batch-size", "50", "--server-dir", str(source.path)],
                            env=_env(CRASHVEIL_SQLITE_BUSY_TIMEOUT_MS="120000"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("KEK rotation: rewrapping data keys: 0 keys of"), first
        proc.send_signal(signal.SIGTERM)
        holder.execute("ROLLBACK")
        out, err = proc.communicate(timeout=120)
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
    last = err.strip().splitlines()[-1]
    assert 1 == proc.returncode and "Traceback" not in err, err
    assert "stopped by SIGTERM after rewrapping 50 data key(s)" in last, err
    assert "crashveil keys rotate --no-project-keys" in last

    halfway = _kek_ids(source)
    assert 50 == sum(n for kek, n in halfway.items() if kek != old_kek) and DAY_KEYS - 50 == halfway[old_kek]
    storage = source.storage()
    try:
        assert stored == [storage.report_detail("demo", r).report.report_id for r in stored]
        # The server keeps opening new reports (HPKE keys unwrap) and storing them (new day key).
        pair = storage.project("demo", fresh=True).keypairs[0]
        sealed = seal_report(b"payload", pair.public_key(), project_id="demo", schema_version=1)
        assert b"payload" == open_report(sealed, [pair], project_id="demo", schema_version=1)
        late = make_report(message="late")
        storage.store_report("demo", late, origin="crashveil-sdk", received_at=RECEIVED + timedelta(days=30),
                             redaction_hits={}, dropped_fields=())
        assert late.report_id == storage.report_detail("demo", late.report_id).report.report_id
        assert old_kek in {k.kek_id for k in storage.keys.provider.keys() if k.retired_at is None}
    finally:
        storage.close()

    again = _cli("keys", "rotate", "--no-project-keys", "--server-dir", str(source.path))
    assert 0 == again.returncode, again.stderr
    assert f"finished the interrupted rotation: {DAY_KEYS - 50} data keys" in again.stdout, again.stdout
    assert [DAY_KEYS + 1] == list(_kek_ids(source).values())
    storage = source.storage()
    try:
        assert [*stored, late.report_id] == [storage.report_detail("demo", r).report.report_id
                                             for r in [*stored, late.report_id]]
        keks = storage.keys.provider.keys()
        assert [old_kek] == [k.kek_id for k in keks if k.retired_at is not None] and 2 == len(keks)
        from crashveil.server.governance.audit import AuditTrail

        rotations = AuditTrail.for_server_dir(storage.engine, source.path).entries(actions=["key.rotate"])
    finally:
        storage.close()
    kek_runs = [(e.details["interrupted"], e.details["resumed"]) for e in rotations if e.details["kind"] == "kek"]
    assert [(True, False), (False, True)] == kek_runs
    verified = _cli("audit", "verify", "--server-dir", str(source.path))
    assert 0 == verified.returncode, verified.stdout + verified.stderr


def test_retention_after_an_interrupted_rotation_makes_a_fresh_kek(storage: Any, make_report: Any) -> None:
    """An interrupted rotation is resumed by ``keys rotate``, but retention (after shredding)
    asks for a KEK no earlier backup holds: a new one, and every earlier KEK is retired."""
    for day in range(3):
        storage.store_report("demo", make_report(message=f"m{day}"), origin="crashveil-sdk",
                             received_at=RECEIVED + timedelta(days=day), redaction_hits={}, dropped_fields=())
    first = storage.keys.provider.current_id()
    stopped = storage.rotate_kek(now=RECEIVED, batch_size=1, stop=lambda: True)
    assert (True, 1, []) == (stopped.interrupted, stopped.rewrapped_data_keys, stopped.retired)
    fresh = storage.rotate_kek(now=RECEIVED, resume=False)
    assert fresh.new_kek_id not in (first, stopped.new_kek_id) and not fresh.resumed
    assert {first, stopped.new_kek_id} == set(fresh.retired) and 3 == fresh.rewrapped_data_keys
