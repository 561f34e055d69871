"""``server init`` that fails on its database says so in one line, suggests the fix, exits
non-zero and leaves nothing behind, so the rerun works (issue 20, "first run without surprises").

Against a real PostgreSQL: a database that does not exist yet, an address nothing listens on,
and a role that may not create tables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashveil.server.db import engine as db

pytestmark = pytest.mark.postgres


def _init(directory: Path, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashveil", "server", "init", str(directory), "--suite", "x25519",
                           "--database", database], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CRASHVEIL_SERVER_DIR": ""})


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert 0 != result.returncode
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 == len(lines), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _assert_nothing_left(parent: Path, before: set[str]) -> None:
    assert before == {p.name for p in parent.iterdir()}


@pytest.fixture
def admin(pg_template: str) -> Iterator[tuple[str, db.Engine]]:
    engine = db.create_engine(f"{pg_template}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    yield pg_template, engine
    engine.dispose()


def test_missing_database_one_line_nothing_left_and_rerun_works(admin: tuple[str, db.Engine],
                                                                 tmp_path: Path) -> None:
    base, engine = admin
    name = f"cv_missing_{uuid.uuid4().hex[:8]}"
    target = tmp_path / "server"
    before = {p.name for p in tmp_path.iterdir()}
    result = _init(target, f"{base}/{name}")
    _assert_one_clear_line(result, f'"{name}" does not exist', "createdb", "rerun")
    _assert_nothing_left(tmp_path, before)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        rerun = _init(target, f"{base}/{name}")
        assert 0 == rerun.returncode, rerun.stderr
        assert rerun.stdout.startswith("crashveil:")
        assert (target / "keys" / "kek.json").exists() and (target / "settings.toml").exists()
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_unreachable_server_one_line_nothing_left(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = {p.name for p in tmp_path.iterdir()}
    result = _init(tmp_path / "server", f"postgresql://nobody:secret-pw@127.0.0.1:{port}/crashveil")
    _assert_one_clear_line(result, f"127.0.0.1:{port}", "rerun")
    assert "secret-pw" not in result.stderr
    _assert_nothing_left(tmp_path, before)


def test_role_without_rights_one_line_nothing_left(admin: tuple[str, db.Engine], tmp_path: Path) -> None:
    base, engine = admin
    suffix = uuid.uuid4().hex[:8]
    role, name = f"cv_norights_{suffix}", f"cv_locked_{suffix}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")  # owned by the admin; PUBLIC may not create
        conn.exec_driver_sql(f"REVOKE CREATE ON DATABASE {name} FROM PUBLIC")
    locked = engine.engine.url.set(database=name)
    locked_engine = db.create_engine(locked.render_as_string(hide_password=False))
    with locked_engine.connect() as conn:
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.commit()
    locked_engine.dispose()
    try:
        host = base.split("@", 1)[1]
        before = {p.name for p in tmp_path.iterdir()}
        result = _init(tmp_path / "server", f"postgresql://{role}@{host}/{name}")
        _assert_one_clear_line(result, f'"{role}"', "permission", "GRANT", "rerun")
        _assert_nothing_left(tmp_path, before)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")


def test_existing_empty_directory_is_used(tmp_path: Path) -> None:
    """An empty directory made beforehand (a mounted volume) becomes the server directory."""
    target = tmp_path / "server"
    target.mkdir()
    result = subprocess.run([sys.executable, "-m", "crashveil", "server", "init", str(target), "--suite", "x25519"],
                            capture_output=True, text=True, timeout=120)
    assert 0 == result.returncode, result.stderr
    assert (target / "settings.toml").exists()
    assert {"server"} == {p.name for p in tmp_path.iterdir()}


def test_failure_in_an_existing_empty_directory_leaves_it_empty(tmp_path: Path) -> None:
    """A mounted volume cannot be renamed over: init builds inside it and, failing, empties it again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "volume"
    target.mkdir()
    result = _init(target, f"postgresql://nobody@127.0.0.1:{port}/crashveil")
    _assert_one_clear_line(result, "cannot reach PostgreSQL")
    assert ([], ["volume"]) == (list(target.iterdir()), [p.name for p in tmp_path.iterdir()])
