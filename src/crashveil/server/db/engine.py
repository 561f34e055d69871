"""Engines for SQLite and PostgreSQL, the one write-transaction helper, and start checks.

SQLite is the embedded default. Every connection runs WAL with ``synchronous=FULL`` (WAL
with NORMAL can lose the last commits on power loss, and we acknowledge a report only once
it is committed), foreign keys on, and a busy timeout. Writes take the lock up front
(``BEGIN IMMEDIATE``, bugsink's ``immediate_atomic``): a deferred transaction that reads
then writes can fail to upgrade its lock, which is a spurious error under concurrency.

PostgreSQL runs through psycopg 3 (``postgresql://`` is rewritten to
``postgresql+psycopg://``), READ COMMITTED, with ``SELECT ... FOR UPDATE`` where a row is
read then written.

Before serving, :func:`durability_problems` and :func:`schema_problem` must both be empty:
the server refuses to run on an unknown schema or on settings that lose acknowledged
commits (RELIABILITY.md B.13).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import StorageError

__all__ = [
    "create_engine",
    "write_tx",
    "read_tx",
    "durability_problems",
    "schema_problem",
    "migrate",
    "head_revision",
    "current_revision",
    "is_sqlite",
    "dialect_insert",
]


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` (psycopg 3); other URLs unchanged."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    return url


def create_engine(url: str, *, busy_timeout_ms: int = 5000, sqlite_synchronous: str = "FULL",
                  sqlite_journal_mode: str = "WAL") -> Engine:
    """An engine for ``url`` with our connection settings.

    ``sqlite_synchronous`` and ``sqlite_journal_mode`` exist for tests of the start check
    only; the server always uses the defaults.
    """
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA journal_mode={sqlite_journal_mode}")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # Deleted rows are overwritten with zeros, so erased details do not linger in
            # free pages of the file (RELIABILITY.md G.41).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if url.startswith("postgresql+psycopg"):
        return sa.create_engine(url, pool_pre_ping=True)
    raise StorageError("database_url: unsupported database (expected sqlite:/// or postgresql://)")


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT; SQLite's and PostgreSQL's share ``on_conflict_do_nothing/update``."""
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.insert(table) if is_sqlite(conn) else postgresql.insert(table)


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


@contextlib.contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """The one way to write: a short transaction, committed on exit, rolled back on error.

    On SQLite the write lock is taken at BEGIN (IMMEDIATE).
    """
    with engine.connect() as conn:
        if is_sqlite(conn):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (deferred on SQLite)."""
    with engine.connect() as conn, conn.begin():
        yield conn


# --- start checks ------------------------------------------------------------------------------

_SQLITE_SYNC = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def durability_problems(conn: Connection) -> list[str]:
    """Settings of this connection's database that could lose an acknowledged commit."""
    problems = []
    if is_sqlite(conn):
        journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
        sync = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
        if journal != "wal":
            problems.append(f"SQLite journal_mode is {journal} (expected wal)")
        if sync < 2:
            problems.append(f"SQLite synchronous is {_SQLITE_SYNC.get(sync, sync)} (expected FULL or EXTRA)")
        return problems
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        value = str(conn.exec_driver_sql(f"SHOW {name}").scalar()).lower()
        # synchronous_commit may be on, remote_write, remote_apply or local: all wait for
        # the local WAL flush except "off".
        if value == "off":
            problems.append(f"PostgreSQL {name} is off (expected on)")
    return problems


def _alembic_config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("crashveil.server.db") / "migrations"))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The schema revision this code expects (heads joined by ``+`` if there are several)."""
    return "+".join(_heads())


def _heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``+``-joined if several); ``None`` for an empty one."""
    from alembic.runtime.migration import MigrationContext

    heads = sorted(MigrationContext.configure(conn).get_current_heads())
    return "+".join(heads) if heads else None


def schema_problem(conn: Connection) -> str | None:
    """Why this code cannot run on this database's schema, or ``None``."""
    current = current_revision(conn)
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no crashveil schema: run 'crashveil server migrate'"
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    try:
        known = all(script.get_revision(rev) is not None for rev in current.split("+"))
    except Exception:
        known = False
    if known:
        return f"the database schema is at {current}, this server expects {head}: run 'crashveil server migrate'"
    return f"the database schema {current} is unknown to this server (expected {head}): is the server older than the database?"


def migrate(engine: Engine, target: str = "heads") -> tuple[str | None, str]:
    """Upgrade the schema to ``target``; returns (revision before, revision after)."""
    from alembic import command

    with engine.begin() as conn:
        before = current_revision(conn)
        command.upgrade(_alembic_config(conn), target)
        after = current_revision(conn)
    assert after is not None
    return before, after
