"""``crashveil server upgrade``, ``migrate`` and ``run`` at the edges: a newer release's schema,
a database that cannot be reached, no terminal to confirm on. Each ends in one line naming
what is wrong and what to do, never a traceback, and changes nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.settings import Settings, write_settings

pytest.importorskip("uvicorn")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**environ, **(env or {})})


def server_dir(tmp_path: Path, *, revision: str | None = "heads", database_url: str | None = None) -> Path:
    """A directory with settings over a SQLite database migrated to ``revision`` (None: empty)."""
    url = database_url or f"sqlite:///{tmp_path / 'crashveil.db'}"
    write_settings(Settings(server_dir=tmp_path, database_url=url))
    if revision is not None:
        engine = db.create_engine(url)
        db.migrate(engine, revision)
        engine.dispose()
    return tmp_path


def revision_of(path: Path) -> str | None:
    engine = db.create_engine(f"sqlite:///{path / 'crashveil.db'}")
    try:
        with engine.connect() as conn:
            return db.current_revision(conn)
    finally:
        engine.dispose()


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert 1 == done.returncode, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert 1 == len(lines), done.stderr
    return lines[0]


def test_newer_schema_is_refused_by_migrate_upgrade_and_run_in_one_line(tmp_path: Path) -> None:
    """A database one revision ahead (a newer release migrated it): migrate, upgrade (dry run
    or not) and run each refuse with the same sentence, and the revision stays as it was."""
    path = server_dir(tmp_path)
    engine = db.create_engine(f"sqlite:///{path / 'crashveil.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0013_future'"))
    engine.dispose()
    expected = (f"database schema is at revision 0013_future, newer than this crashveil (knows up to "
                f"{db.head_revision()}): upgrade crashveil, or restore a backup")
    where = ("--server-dir", str(path))
    assert f"crashveil: error: {expected}" == one_line(cli("server", "migrate", *where))
    assert f"crashveil: error: {expected}" == one_line(cli("server", "upgrade", "--dry-run", *where))
    assert f"crashveil: error: {expected}" == one_line(cli("server", "upgrade", "--yes", *where))
    assert f"crashveil: error: refusing to run: {expected}" == one_line(cli("server", "run", *where))
    assert "0013_future" == revision_of(path)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    """PostgreSQL refusing the connection: where (password hidden) and why, for each command."""
    url = f"postgresql://crashveil:s3cret-pw@127.0.0.1:{_closed_port()}/crashveil"
    path = server_dir(tmp_path, revision=None, database_url=url)
    where = ("--server-dir", str(path))
    for args in (("server", "migrate"), ("server", "upgrade", "--dry-run"), ("server", "run")):
        line = one_line(cli(*args, *where))
        # migrate words it as server init does (with the fix); upgrade and run name the URL
        assert line.startswith(("crashveil: error: cannot reach the database at postgresql://crashveil:***@127.0.0.1:",
                                "crashveil: error: cannot reach PostgreSQL at 127.0.0.1:")), line
        assert "connection refused" in line.lower() or "connection failed" in line, line
        assert "s3cret-pw" not in line


def test_upgrade_shows_the_plan_then_needs_a_confirmation(tmp_path: Path) -> None:
    """At 0011: the dry run lists the step to head and the downtime; without --yes and without a
    terminal the upgrade refuses in one line and leaves 0011; with --yes it migrates."""
    path = server_dir(tmp_path, revision="0011")
    where = ("--server-dir", str(path))
    plan = cli("server", "upgrade", "--dry-run", *where)
    assert 0 == plan.returncode, plan.stderr
    lines = plan.stdout.splitlines()
    assert "current revision: 0011" in lines and f"target revision:  {db.head_revision()}" in lines
    assert any(line.startswith("  0011 -> 0012  Outcomes of Sentry ingest") for line in lines), plan.stdout
    assert any(line.startswith("downtime:         stop every crashveil server process") for line in lines)
    refused = cli("server", "upgrade", *where)
    assert "Error: refusing without confirmation: stdin is not a terminal (pass --yes to go on)" == one_line(refused)
    assert "0011" == revision_of(path)
    done = cli("server", "upgrade", "--yes", *where)
    assert 0 == done.returncode, done.stderr
    assert db.head_revision() == revision_of(path)
    again = cli("server", "upgrade", *where)
    assert 0 == again.returncode and "nothing to do" in again.stdout
