"""Files of a server directory are private to its user (issue 14, item 17).

After ``crashveil server init``, a client certificate, a dashboard user and a real run that
stored a report, every file is 0600 and every directory 0700, whatever the umask the commands
ran under (022 here). The SQLite engine creates the database, its WAL and shared memory 0600
on its own too, and tightens an existing database left world-readable.
"""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _loading import load

_TESTS = Path(__file__).parents[1]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, for this process and the commands it starts."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _cli(*args: str, **env: str) -> None:
    subprocess.run([sys.executable, "-m", "crashveil", *args], check=True, capture_output=True, timeout=120,
                   env={**os.environ, **env})


def _too_open(root: Path) -> list[str]:
    """Every path under ``root`` (and ``root``) that its group or others may read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return sorted(found)


def test_server_directory_is_private_after_init_and_a_run(tmp_path: Path, umask_022: None) -> None:
    directory = tmp_path / "server"
    _cli("server", "init", str(directory))
    _cli("server", "issue-client-cert", "c1", "--server-dir", str(directory))
    _cli("user", "add", "dev", "--project", "demo", "--role", "developer", "--server-dir", str(directory),
         CRASHVEIL_NEW_PASSWORD="file-modes-password-1")
    server_dir = servers.ServerDir(directory, directory / "clients" / "c1.pem", directory / "clients" / "c1.key")
    server = servers.Server(server_dir, tmp_path / "server.log").start()
    try:
        sealer = servers.Sealer(server_dir)
        context = ssl.create_default_context(cafile=str(server_dir.ca_pem))
        context.load_cert_chain(str(server_dir.client_cert), str(server_dir.client_key))
        answer = servers.post_sealed(context, server.port, sealer.seal(sealer.report()))
        assert 201 == answer.status
        web = ssl.create_default_context(cafile=str(server_dir.ca_pem))
        assert 200 == servers.get_status(web, server.web_port, "/dashboard/login")
        names = {p.name for p in directory.rglob("*")}
        assert {"crashveil.db", "crashveil.db-wal", "crashveil.db-shm"} <= names, names
        assert [] == _too_open(directory)
    finally:
        server.stop()
    assert [] == _too_open(directory)


def test_sqlite_engine_creates_private_files(tmp_path: Path, umask_022: None) -> None:
    from crashveil.server.db.engine import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        engine.dispose()
    assert {"x.db": 0o600, "x.db-wal": 0o600, "x.db-shm": 0o600} == modes


def test_sqlite_engine_tightens_an_existing_readable_database(tmp_path: Path, umask_022: None) -> None:
    from crashveil.server.db.engine import create_engine

    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    for name in ("old.db", "old.db-wal"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    assert [] == _too_open(tmp_path)
