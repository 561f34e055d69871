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
import fcntl
import functools
import operator
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import DatabaseUnreachable, SchemaAheadError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "create_engine",
    "pool_limits",
    "write_tx",
    "read_tx",
    "durability_problems",
    "schema_problem",
    "migrate",
    "head_revision",
    "current_revision",
    "is_known_revision",
    "migration_scripts",
    "unreachable",
    "is_sqlite",
    "dialect_insert",
    "BulkWrite",
    "fetch_all",
    "fetch_dicts",
    "driver_execute",
]


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` (psycopg 3); other URLs unchanged."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    return url


#: PostgreSQL connections the processes of one server share (PostgreSQL's default
#: ``max_connections`` is 100, 3 kept for superusers; the rest is left to CLI commands,
#: backups and a second host).
POOL_BUDGET = 60


def pool_limits(processes: int) -> tuple[int, int]:
    """(``pool_size``, ``max_overflow``) of each of ``processes`` server processes over one
    PostgreSQL: together within :data:`POOL_BUDGET` up to 29 processes (2 each beyond),
    at most SQLAlchemy's default 5 + 10 for one. A process's writer holds one connection;
    the rest serve reads from the thread pool, and a request that finds none free waits
    (``pool_timeout``) rather than failing the database's connection limit."""
    per = min(15, max(2, POOL_BUDGET // max(1, processes)))
    size = min(5, per)
    return size, per - size


def create_engine(url: str, *, busy_timeout_ms: int = 5000, sqlite_synchronous: str = "FULL",
                  sqlite_journal_mode: str = "WAL", processes: int = 1) -> Engine:
    """An engine for ``url`` with our connection settings; on PostgreSQL its pool is this
    process's share for ``processes`` server processes (:func:`pool_limits`).

    ``sqlite_synchronous`` and ``sqlite_journal_mode`` exist for tests of the start check
    only; the server always uses the defaults.
    """
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        _private_sqlite_files(sa.engine.make_url(url).database)
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
            driver_execute(conn, f"BEGIN {mode}")

        return engine
    if url.startswith("postgresql+psycopg"):
        size, overflow = pool_limits(processes)
        return sa.create_engine(url, pool_pre_ping=True, pool_size=size, max_overflow=overflow)
    raise StorageError("database_url: unsupported database (expected sqlite:/// or postgresql://)")


def driver_execute(conn: Connection, sql: str) -> None:
    """Run ``sql`` (no parameters, no rows: ``BEGIN ...``, a savepoint) on the DBAPI
    connection itself: through ``exec_driver_sql`` it costs a statement's whole execution
    path (events, cursor, result; ~60 us), once per group commit. A driver error (say, the
    lock not had within the busy timeout) is raised as SQLAlchemy raises it, so callers'
    ``except SQLAlchemyError`` still see it."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, (), exc, dbapi.Error) from exc


def _private_sqlite_files(database: str | None) -> None:
    """Create the database file 0600 before SQLite opens it, and take the group and other
    bits off an existing one and its companions.

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` with the database file's mode, so a
    private database keeps them private whatever the process umask.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError:
        return  # a missing directory or a read-only file: SQLite says so with its own error
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            mode = stat.S_IMODE(os.stat(database + suffix).st_mode)
            if mode & 0o077:
                os.chmod(database + suffix, mode & 0o700)
        except OSError:
            continue  # absent, or not ours to change


def dialect_insert(conn: Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT; SQLite's and PostgreSQL's share ``on_conflict_do_nothing/update``."""
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.insert(table) if is_sqlite(conn) else postgresql.insert(table)


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


class BulkWrite:
    """A write statement run for many rows at once (group commit), compiled once per dialect.

    On SQLite the rows go to ``sqlite3.Cursor.executemany`` as tuples in the compiled
    statement's parameter order, through the bind processors (type conversions) the
    compiled statement has, inside the connection's transaction: what SQLAlchemy's
    executemany does, without its per-row parameter dicts and per-execution bookkeeping
    (~5 us a row, ~80 us a statement). DBAPI errors are raised as SQLAlchemy's (an
    ``IntegrityError`` stays one). Other dialects run ``Connection.execute`` (PostgreSQL's
    insertmanyvalues already sends one statement).

    ``build(conn)`` makes the statement; ``keys`` are the parameter names every row has.
    """

    def __init__(self, build: Callable[[Connection], Any], keys: Sequence[str]) -> None:
        self._build = build
        self.keys = tuple(keys)
        self._plans: dict[str, tuple[Any, str | None, Any, tuple[tuple[int, Any], ...]]] = {}

    def _plan(self, conn: Connection) -> tuple[Any, str | None, Any, tuple[tuple[int, Any], ...]]:
        """(statement, SQL for the cursor or None, row -> values, (index, bind processor))."""
        dialect = conn.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            stmt = self._build(conn)
            sql: str | None = None
            getter: Any = None
            converters: list[tuple[int, Any]] = []
            if is_sqlite(conn):
                compiled = stmt.compile(dialect=dialect, column_keys=list(self.keys))
                by_name = {name: bind for bind, name in compiled.bind_names.items()}
                order = tuple(compiled.positiontup or ())
                if order and set(order) == set(self.keys):  # else: leave it to SQLAlchemy
                    sql, getter = compiled.string, operator.itemgetter(*order)
                    for index, name in enumerate(order):
                        impl = by_name[name].type.dialect_impl(dialect)
                        if isinstance(impl, sa.LargeBinary):
                            continue  # sqlite3 binds bytes as a BLOB; the processor only wraps them
                        processor = impl.bind_processor(dialect)
                        if processor is not None:
                            converters.append((index, processor))
            plan = self._plans[dialect.name] = (stmt, sql, getter, tuple(converters))
        return plan

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        stmt, sql, getter, converters = self._plan(conn)
        if sql is None:
            conn.execute(stmt, list(rows))
            return
        if len(self.keys) == 1:
            params: list[Any] = [(getter(row),) for row in rows]
        else:
            params = [getter(row) for row in rows]
        if converters:
            for i, values in enumerate(params):
                values = list(values)
                for index, processor in converters:
                    if values[index] is not None:
                        values[index] = processor(values[index])
                params[i] = values
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(sql, params)
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        finally:
            cursor.close()


def fetch_all(conn: Connection, stmt: sa.Select[Any], params: Mapping[str, Any]) -> list[Any]:
    """The rows of a SELECT whose columns need no type conversion (ints, strings, bytes).

    It runs on the DBAPI cursor with the statement compiled once (a hot read of the
    group-commit writer; SQLAlchemy's execution and result machinery cost more than the
    query: ~100 us a statement on PostgreSQL); rows are tuples. ``params`` name every
    bound parameter of ``stmt`` (no defaults, no bind processors: plain values).
    """
    plan = _READS.get((conn.dialect.name, stmt))
    if plan is None:
        compiled = stmt.compile(dialect=conn.dialect)
        plan = _READS[(conn.dialect.name, stmt)] = (compiled.string, _order(conn, compiled))
    sql, order = plan
    return _fetch_raw(conn, sql, order, params)


def _order(conn: Connection, compiled: Any) -> tuple[str, ...] | None:
    """The parameter names in SQL order (SQLite's ``?``), or None: by name (PostgreSQL's ``%(name)s``)."""
    return tuple(compiled.positiontup or ()) if is_sqlite(conn) else None


def _fetch_raw(conn: Connection, sql: str, order: tuple[str, ...] | None, params: Mapping[str, Any]) -> list[Any]:
    """Run compiled ``sql`` on the DBAPI cursor with ``params`` in ``order`` (or by name);
    its rows as tuples (a driver error is raised as SQLAlchemy would raise it)."""
    values: Any = tuple(params[name] for name in order) if order is not None else params
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, values)
        return list(cursor.fetchall())
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, values, exc, dbapi.Error) from exc
    finally:
        cursor.close()


_READS: dict[tuple[str, Any], tuple[str, tuple[str, ...] | None]] = {}


def fetch_dicts(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a SELECT as ``{column key: value}`` dicts, with the columns' result
    conversions (dates ...) applied: ``dict(row._mapping)`` for each row of
    ``conn.execute(stmt, params)``.

    It runs on the DBAPI cursor like :func:`fetch_all`, with the result processors of
    ``stmt.selected_columns`` (SQLAlchemy's result machinery costs ~10 us a row here, and
    its execution ~100 us a statement on PostgreSQL).
    """
    plan = _DICT_READS.get((conn.dialect.name, stmt))
    if plan is None:
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect)
        columns = list(stmt.selected_columns)
        processors = tuple((index, processor) for index, processor in (
            (index, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for index, column in enumerate(columns)) if processor is not None)
        plan = _DICT_READS[(dialect.name, stmt)] = (compiled.string, _order(conn, compiled),
                                                    tuple(column.key for column in columns), processors)
    sql, order, keys, processors = plan
    out = []
    for row in _fetch_raw(conn, sql, order, params):
        if processors:
            row = list(row)
            for index, processor in processors:
                row[index] = processor(row[index])
        out.append(dict(zip(keys, row, strict=False)))
    return out


_DICT_READS: dict[tuple[str, Any], tuple[str, tuple[str, ...] | None, tuple[str, ...],
                                        tuple[tuple[int, Any], ...]]] = {}


@contextlib.contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """The one way to write: a short transaction, committed on exit, rolled back on error.

    On SQLite the write lock is taken at BEGIN (IMMEDIATE), after :func:`_writer_lock`.
    """
    with _writer_lock(engine), engine.connect() as conn:
        if is_sqlite(conn):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextlib.contextmanager
def _writer_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, hold an exclusive ``flock`` on ``<db>-writer.lock`` around the write.

    SQLite's own wait for its write lock is a busy handler that sleeps 1, 2, 5, 10, ... 100 ms
    between tries: with several server processes over one file, each waiter oversleeps the
    holder's few-millisecond transaction and every commit is delayed. A blocking ``flock``
    wakes the next writer when the holder releases it. Processes that do not take it (an
    older CLI) still meet SQLite's lock, which stays the authority; a killed holder's lock
    goes with its process. Each transaction opens the file anew, so threads of one process
    exclude each other too (``flock`` belongs to the open file).
    """
    path = engine.url.database if is_sqlite(engine) else None
    held: set[str] = _HELD.__dict__.setdefault("paths", set())
    if not path or path == ":memory:" or path.startswith("file:") or path in held:
        yield  # nothing to lock, or this thread holds it already (SQLite's lock decides)
        return
    try:
        fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:  # a read-only directory: SQLite's lock alone
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(path)
        yield
    finally:
        held.discard(path)
        os.close(fd)  # releases the lock


_HELD = threading.local()


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


def _alembic_config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("crashveil.server.db") / "migrations"))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The schema revision this code expects (heads joined by ``+`` if there are several)."""
    return "+".join(_heads())


@functools.cache
def _heads() -> tuple[str, ...]:
    """Read once per process: the migrations are package data, and reading them execs every
    script (a few hundred milliseconds at each start and CLI command otherwise)."""
    return tuple(sorted(migration_scripts().get_heads()))


def migration_scripts() -> ScriptDirectory:
    """The migrations this code has (Alembic's view of ``db/migrations/versions``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


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
    if is_known_revision(current):
        return f"the database schema is at {current}, this server expects {head}: run 'crashveil server migrate'"
    return str(SchemaAheadError(current, head))


def is_known_revision(revision: str) -> bool:
    """Whether every ``+``-joined part of ``revision`` is a migration this code has."""
    from alembic.util import CommandError

    script = migration_scripts()
    try:
        found = [script.get_revision(rev) for rev in revision.split("+")]
    except CommandError:  # alembic's "Can't locate revision": a newer release's
        return False
    # get_revision also resolves prefixes and symbols ("heads"); a stored revision is exact
    return all(one is not None and one.revision == rev for one, rev in zip(found, revision.split("+"),
                                                                                      strict=True))


def unreachable(engine: Engine, exc: sa.exc.DBAPIError) -> DatabaseUnreachable:
    """The one-line error for a database that refused or failed the connection (no password,
    no traceback): the driver's first line names the cause (refused, unknown host, no such
    database, authentication)."""
    where = engine.url.render_as_string(hide_password=True).replace("+psycopg", "", 1)
    reason = (str(exc.orig) if exc.orig is not None else str(exc)).strip().splitlines()
    return DatabaseUnreachable(where, (reason[0] if reason else type(exc).__name__)[:300])


def migrate(engine: Engine, target: str = "heads") -> tuple[str | None, str]:
    """Upgrade the schema to ``target``; returns (revision before, revision after).

    All steps run in one transaction (both engines have transactional DDL): a failed step
    leaves the database at the revision it had.

    Raises:
        DatabaseUnreachable: the database cannot be connected to.
        SchemaAheadError: the database is at a revision this code does not know.
    """
    from alembic import command

    try:
        connection = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise unreachable(engine, exc) from exc
    with connection as conn, conn.begin():
        before = current_revision(conn)
        if before is not None and not is_known_revision(before):
            raise SchemaAheadError(before, head_revision())
        command.upgrade(_alembic_config(conn), target)
        after = current_revision(conn)
    assert after is not None
    return before, after
