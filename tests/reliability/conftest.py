"""Fixtures of the reliability suite: the real server (SQLite or PostgreSQL) and its helpers.

PostgreSQL comes from the fixtures of ``tests/server/conftest.py`` (pytest-postgresql over
Debian's binaries, ``fsync=on``), loaded by path and re-exported here; tests that use it are
marked ``postgres`` and skipped where no ``pg_ctl`` is installed.

Long versions: ``CRASHVEIL_RELIABILITY_SCALE`` multiplies loop counts (kills, reports,
installs); ``scripts/reliability_report.py --long`` sets it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _loading import load
from _migrated import migrated_sqlite

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[1]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")
_server_conftest = load("crashveil_tests_server_conftest", _TESTS / "server" / "conftest.py")

# PostgreSQL (session server, migrated template, a fresh database per test).
postgresql_proc = _server_conftest.postgresql_proc
pg_template = _server_conftest.pg_template
pg_url = _server_conftest.pg_url
make_settings = _server_conftest.make_settings
build_report = _server_conftest.build_report
NOW = _server_conftest.NOW

#: Multiplies the loop counts of the long versions (1 in CI).
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the server directory's own SQLite file, else a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Build (not start) a real server over a new server directory; stopped at teardown."""
    made: list[Any] = []

    def make(database_url: str | None = None, **environ: str) -> Any:
        root = tmp_path / f"srv{len(made)}"
        root.mkdir()
        server_dir = servers.init_server_dir(root / "dir", database_url=database_url)
        server = servers.Server(server_dir, root / "server.log", environ=dict(environ))
        made.append(server)
        return server

    yield make
    for server in made:
        if server.alive():
            server.kill()


@pytest.fixture
def storage(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """In-process storage with project ``demo`` over SQLite (see ``storage_pg`` for PostgreSQL)."""
    yield from _storage(tmp_path, f"sqlite:///{tmp_path / 'crashveil.db'}", migrate=True)


def _storage(tmp_path: Path, url: str, *, migrate: bool) -> Iterator[Any]:
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    if migrate:
        url = migrated_sqlite(tmp_path / "crashveil.db")
    settings = make_settings(tmp_path, url)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    store = Storage.open(settings, clock=lambda: NOW)
    store.create_project("demo", now=NOW)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """In-process storage with project ``demo``, over SQLite and over PostgreSQL."""
    if request.param == "sqlite":
        yield from _storage(tmp_path, f"sqlite:///{tmp_path / 'crashveil.db'}", migrate=True)
    else:
        yield from _storage(tmp_path, str(request.getfixturevalue("pg_url")), migrate=False)
