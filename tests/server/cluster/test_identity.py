"""Server identity: a second ``init`` against a database that belongs to a server is refused;
``run``/``migrate`` refuse a directory of another server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crashveil.errors import ClusterError
from crashveil.server.cluster import identity
from crashveil.server.db import engine as db

from .conftest import run_cli


@pytest.mark.postgres
def test_second_init_against_the_same_database_is_refused(tmp_path: Path, pg_url: str) -> None:
    first = run_cli("server", "init", str(tmp_path / "a"), "--database", pg_url)
    assert 0 == first.returncode, first.stderr
    second = run_cli("server", "init", str(tmp_path / "b"), "--database", pg_url, "--project", "other")
    lines = second.stderr.strip().splitlines()
    server_id = (tmp_path / "a" / "server.id").read_text().strip()
    assert (1, True, True, False) == (second.returncode, f"belongs to server {server_id}" in lines[-1],
                                      "server add-host" in lines[-1], (tmp_path / "b").exists()), second.stderr


def test_a_failed_init_leaves_the_database_unclaimed(tmp_path: Path, database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        identity.claim_database(engine, "first", now=datetime.now(UTC))
        identity.release_claim(engine, "first")
        identity.claim_database(engine, "second", now=datetime.now(UTC))
        with engine.connect() as conn:
            assert "second" == identity.database_server_id(conn)
    finally:
        engine.dispose()


def test_migrate_refuses_a_directory_of_another_server(tmp_path: Path) -> None:
    assert 0 == run_cli("server", "init", str(tmp_path / "a")).returncode
    assert 0 == run_cli("server", "init", str(tmp_path / "b")).returncode
    other_db = f"sqlite:///{tmp_path / 'b' / 'crashveil.db'}"
    done = run_cli("server", "migrate", "--server-dir", str(tmp_path / "a"), env={"CRASHVEIL_DATABASE_URL": other_db})
    mine = (tmp_path / "a" / "server.id").read_text().strip()
    theirs = (tmp_path / "b" / "server.id").read_text().strip()
    assert (1, f"belongs to server {mine} but database" in done.stderr, theirs in done.stderr) == (
        done.returncode, True, True), done.stderr


def test_a_server_made_before_identities_is_claimed_by_its_directory(tmp_path: Path, database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        claimed = identity.check_identity(engine, tmp_path, now=datetime.now(UTC))
        assert claimed == identity.directory_server_id(tmp_path)
        assert claimed == identity.check_identity(engine, tmp_path, now=datetime.now(UTC))
        (tmp_path / "other").mkdir()
        with pytest.raises(ClusterError, match="has no server.id but database .* belongs to server"):
            identity.check_identity(engine, tmp_path / "other", now=datetime.now(UTC))
    finally:
        engine.dispose()
