"""SIGTERM to a running backup or restore (a real signal to the CLI in a subprocess): it stops
with one line, and leaves no half-written archive and no half-restored directory. The tests
wait on what they can see (a temporary file growing, pg_dump waiting for a lock, a staging
directory), never for a fixed time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PASSPHRASE, run_cli, servers


def _start(*args: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
    environ["CRASHVEIL_BACKUP_PASSPHRASE"] = PASSPHRASE
    return subprocess.Popen([sys.executable, "-m", "crashveil", *args, "--progress"], env=environ,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stopped(proc: subprocess.Popen[str]) -> str:
    """Wait for the process; its last stderr line (asserting exit 1 and the interruption)."""
    _, err = proc.communicate(timeout=120)
    assert 1 == proc.returncode, err
    last = err.strip().splitlines()[-1]
    assert "stopped by SIGTERM" in last and "Traceback" not in err, err
    return last


def _partial_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob(".*/archive.partial"))


def test_backup_stopped_while_sealing_leaves_nothing(tmp_path: Path) -> None:
    source = servers.init_server_dir(tmp_path / "srv")
    with (source.path / "projects" / "big.bin").open("wb") as big:
        big.truncate(96 * 1024 * 1024)  # sparse; long enough to be caught while sealing
    out = tmp_path / "out"
    out.mkdir()
    proc = _start("server", "backup", str(out / "b.cvbak"), "--server-dir", str(source.path))
    try:
        assert servers.wait_for(lambda: _partial_size(out) > 1024 * 1024 or proc.poll() is not None, 60)
        assert proc.poll() is None, "the backup ended before it could be interrupted"
        proc.send_signal(signal.SIGTERM)
        _stopped(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [] == list(out.iterdir())


@pytest.mark.postgres
def test_backup_stopped_while_pg_dump_waits_stops_pg_dump(tmp_path: Path, pg_url: str) -> None:
    """pg_dump waits for a table another session holds locked (reports: the backup reads only the
    audit trail itself); SIGTERM ends both and leaves nothing."""
    import sqlalchemy as sa

    from crashveil.server.db.engine import create_engine

    source = servers.init_server_dir(tmp_path / "srv", database_url=pg_url)
    out = tmp_path / "out"
    out.mkdir()
    engine = create_engine(pg_url)
    locker = engine.connect()
    try:
        locker.execute(sa.text("LOCK TABLE reports IN ACCESS EXCLUSIVE MODE"))
        proc = _start("server", "backup", str(out / "b.cvbak"), "--server-dir", str(source.path))

        def dump_waits() -> bool:
            with engine.connect() as conn:
                return bool(conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                                 "'pg_dump' AND wait_event_type = 'Lock'")).scalar())
        try:
            assert servers.wait_for(dump_waits, 60)
            proc.send_signal(signal.SIGTERM)
            _stopped(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert servers.wait_for(lambda: not dump_waits(), 30), "pg_dump must not outlive the backup"
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()
    assert [] == list(out.iterdir())


def test_restore_stopped_midway_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    """The archive arrives through a pipe: half of it, SIGTERM, then the rest. The non-empty
    target (--force) keeps every file as it was and no staging directory is left."""
    source = servers.init_server_dir(tmp_path / "srv")
    with (source.path / "projects" / "big.bin").open("wb") as big:
        big.truncate(4 * 1024 * 1024)  # an archive of several chunks: the first ones unpack before the rest comes
    archive = tmp_path / "b.cvbak"
    run_cli("server", "backup", str(archive), "--server-dir", str(source.path))
    data = archive.read_bytes()
    before = {p.relative_to(source.path): p.read_bytes() for p in source.path.rglob("*") if p.is_file()}
    pipe = tmp_path / "pipe.cvbak"
    os.mkfifo(pipe)
    proc = _start("server", "restore", str(pipe), "--into", str(source.path), "--force")
    try:
        with pipe.open("wb") as writer:
            writer.write(data[: len(data) // 2])
            writer.flush()
            assert servers.wait_for(lambda: any(tmp_path.glob(".srv.restoring-*/.database")), 60)  # unpacking
            proc.send_signal(signal.SIGTERM)
            try:
                writer.write(data[len(data) // 2:])
            except BrokenPipeError:
                pass
        _stopped(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = {p.relative_to(source.path): p.read_bytes() for p in source.path.rglob("*") if p.is_file()}
    assert (before, []) == (after, [p.name for p in tmp_path.iterdir() if p.name.startswith(".srv.")])


def test_retention_stopped_between_projects_keeps_what_it_committed(tmp_path: Path) -> None:
    """Three projects; the first waits for a write lock the test holds. SIGTERM while it waits:
    that project finishes and commits, the others are not started, the run is audited as
    interrupted and the command says to run it again."""
    import sqlite3

    source = servers.init_server_dir(tmp_path / "srv")
    for project in ("second", "third"):
        run_cli("project", "add", project, "--server-dir", str(source.path))
    holder = sqlite3.connect(source.path / "crashveil.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock: the first project's first write waits for it
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
    environ["CRASHVEIL_SQLITE_BUSY_TIMEOUT_MS"] = "120000"
    proc = subprocess.Popen([sys.executable, "-m", "crashveil", "retention", "run", "--progress", "--server-dir",
                             str(source.path)], env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "retention: project 1 of 3" in first, first
        proc.send_signal(signal.SIGTERM)
        holder.execute("ROLLBACK")
        out, err = proc.communicate(timeout=120)
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
    assert 1 == proc.returncode and "stopped by SIGTERM after 1 project(s)" in err, err
    assert "project 2 of 3" not in err and 1 == out.count("did delete"), out
    from crashveil.server.governance.audit import AuditTrail

    storage = source.storage()
    try:
        last = AuditTrail.for_server_dir(storage.engine, source.path).entries(actions=["retention.run"])[-1]
    finally:
        storage.close()
    assert last.details.get("interrupted") is True
