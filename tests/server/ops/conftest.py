"""Fixtures of the backup and restore tests: the real server of ``tests/_servers.py``, the CLI
as a subprocess, and an empty PostgreSQL database to restore into."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _loading import load

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[2]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")
PASSPHRASE = "correct horse battery staple"


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m crashveil ARGS`` with the passphrase in its environment variable."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
    environ.update({"CRASHVEIL_BACKUP_PASSPHRASE": PASSPHRASE, **(env or {})})
    done = subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=180,
                          env=environ, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise AssertionError(f"crashveil {' '.join(args)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the server directory's own SQLite file, else a fresh migrated PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def empty_pg(pg_template: str) -> Iterator[str]:
    """An empty PostgreSQL database (no tables) to restore into."""
    from crashveil.server.db import engine as db

    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(f"{pg_template}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"{pg_template}/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()
