"""Migrations and start checks: schema version, unsafe durability settings refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.errors import StorageError
from crashveil.server.db import engine as db
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _settings(tmp_path: Path, url: str) -> Settings:
    settings = Settings(server_dir=tmp_path, database_url=url, sealing_suite="x25519")
    if not settings.kek_path.exists():
        FileKeyProvider.create(settings.kek_path, now=NOW)
    return settings


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    """Migrating an empty database reaches head; migrating again changes nothing."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    first = db.migrate(engine)
    second = db.migrate(engine)
    engine.dispose()
    assert (None, db.head_revision()) == first
    assert (db.head_revision(), db.head_revision()) == second


def test_sqlite_connections_are_durable(database_url: str) -> None:
    """Every connection the engine makes runs WAL and synchronous=FULL (or the PostgreSQL equivalents)."""
    engine = db.create_engine(database_url)
    with engine.connect() as conn:
        problems = db.durability_problems(conn)
    engine.dispose()
    assert [] == problems


def test_sqlite_unsafe_settings_reported(tmp_path: Path) -> None:
    """synchronous=NORMAL and a rollback journal are both named as problems."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'u.db'}", sqlite_synchronous="NORMAL",
                              sqlite_journal_mode="DELETE")
    with engine.connect() as conn:
        problems = db.durability_problems(conn)
    engine.dispose()
    assert ["SQLite journal_mode is delete (expected wal)",
            "SQLite synchronous is NORMAL (expected FULL or EXTRA)"] == problems


@pytest.mark.postgres
def test_postgres_unsafe_settings_refused(tmp_path: Path, pg_url: str) -> None:
    """Storage refuses a PostgreSQL database whose sessions commit asynchronously."""
    engine = db.create_engine(pg_url)
    name = pg_url.rsplit("/", 1)[1]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {name} SET synchronous_commit = off")
    engine.dispose()
    with pytest.raises(StorageError) as caught:
        Storage.open(_settings(tmp_path, pg_url))
    assert "refusing to run: PostgreSQL synchronous_commit is off (expected on)" == str(caught.value)


def test_empty_database_refused(tmp_path: Path) -> None:
    """Storage refuses a database without the schema and says how to create it."""
    with pytest.raises(StorageError) as caught:
        Storage.open(_settings(tmp_path, f"sqlite:///{tmp_path / 'e.db'}"))
    assert "refusing to run: the database has no crashveil schema: run 'crashveil server migrate'" == str(caught.value)


def test_unknown_schema_refused(tmp_path: Path) -> None:
    """A database at a revision this code does not know (a newer server's) is refused."""
    url = f"sqlite:///{tmp_path / 'n.db'}"
    engine = db.create_engine(url)
    db.migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(StorageError) as caught:
        Storage.open(_settings(tmp_path, url))
    assert ("refusing to run: database schema is at revision ffff, newer than this crashveil (knows up to "
            f"{db.head_revision()}): upgrade crashveil, or restore a backup") == str(caught.value)


def test_old_schema_refused_until_migrated(tmp_path: Path) -> None:
    """A database at an older revision is refused until `migrate` brings it to head."""
    url = f"sqlite:///{tmp_path / 'o.db'}"
    engine = db.create_engine(url)
    db.migrate(engine, "0001")
    with pytest.raises(StorageError) as caught:
        Storage.open(_settings(tmp_path, url))
    assert "run 'crashveil server migrate'" in str(caught.value)
    db.migrate(engine)
    engine.dispose()
    Storage.open(_settings(tmp_path, url)).close()
