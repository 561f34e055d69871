"""Statement plumbing of the batch write path: IN lists of a few fixed sizes, statements
built once per dialect, executemany by row shape, the counting upsert, and (PostgreSQL)
the batch's writes sent in one round trip (:func:`pipelined`).

These are what keep a group commit's SQL cheap (see each helper's numbers); every module of
``storage`` that writes in batches goes through them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.pg_arrays import ArrayWrite

__all__ = ["CHUNK", "bulk", "in_chunks", "in_keys", "in_tuple_keys", "pipelined", "statement", "upsert_counts"]

#: The most values one IN list (or one DELETE's chunk) takes.
CHUNK = 500

_STATEMENTS: dict[tuple[str, str], Any] = {}
#: Sizes of the IN lists of the batch reads; a list is padded to the next one by repeating
#: its last value, so each read has a few fixed shapes, compiled once each. An expanding
#: IN would be rendered anew at every execution (~2.5 ms per batch in the profile).
_IN_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, CHUNK)


def in_chunks(conn: sa.Connection, name: str, values: Sequence[Any], build: Callable[[int], Any]
              ) -> Iterator[tuple[Sequence[Any], Any, dict[str, Any]]]:
    """``(chunk, statement, parameters)`` for ``values`` in chunks of at most ``CHUNK``.

    ``build(size)`` makes a statement with parameters ``k{i}`` (a value) or ``k{i}_{j}``
    (the j-th element of a tuple value) for i < size; the parameters name each value of the
    chunk, the last one repeated up to the size.
    """
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        size = next(n for n in _IN_SIZES if n >= len(chunk))
        stmt = statement(conn, f"{name}-{size}", functools.partial(build, size))
        padded = list(chunk) + [chunk[-1]] * (size - len(chunk))
        if isinstance(padded[0], tuple):
            width = len(padded[0])
            params = dict(zip(_param_names(size, width), [part for value in padded for part in value],
                              strict=True))
        else:
            params = dict(zip(_param_names(size, 0), padded, strict=True))
        yield chunk, stmt, params


@functools.lru_cache(maxsize=64)
def _param_names(size: int, width: int) -> tuple[str, ...]:
    """``k{i}`` for i < size (width 0), else ``k{i}_{j}`` for i < size, j < width, in order."""
    if not width:
        return tuple(f"k{i}" for i in range(size))
    return tuple(f"k{i}_{j}" for i in range(size) for j in range(width))


def in_keys(size: int) -> list[Any]:
    """The bind parameters ``k0`` .. ``k{size-1}`` of an IN list (see :func:`in_chunks`)."""
    return [sa.bindparam(f"k{i}") for i in range(size)]


def in_tuple_keys(size: int, width: int) -> list[Any]:
    """The bind parameters of an IN list of ``width``-tuples (see :func:`in_chunks`)."""
    return [sa.tuple_(*(sa.bindparam(f"k{i}_{j}") for j in range(width))) for i in range(size)]


_BULK: dict[tuple[str, tuple[str, ...]], db.BulkWrite] = {}


_ARRAY_WRITES: dict[tuple[str, tuple[str, ...]], ArrayWrite] = {}


def bulk(conn: sa.Connection, name: str, build: Callable[[sa.Connection], Any],
         rows: Sequence[Mapping[str, Any]]) -> None:
    """Run the statement ``build`` makes for every row: on SQLite ``db.BulkWrite`` (one
    executemany per row shape); on PostgreSQL :class:`ArrayWrite` (ONE statement for all
    the rows, whose values travel as one array per column).

    On PostgreSQL the rows must not repeat an ``ON CONFLICT DO UPDATE`` key (one statement
    cannot update a row twice); every caller aggregates its rows by key first.
    """
    if not rows:
        return
    key = (name, tuple(rows[0]))
    if not db.is_sqlite(conn):
        array_write = _ARRAY_WRITES.get(key)
        if array_write is None:
            array_write = _ARRAY_WRITES[key] = ArrayWrite(build, key[1])
        array_write(conn, rows)
        return
    write = _BULK.get(key)
    if write is None:
        write = _BULK[key] = db.BulkWrite(build, key[1])
    write(conn, rows)


def statement(conn: sa.Connection, name: str, build: Callable[[], Any]) -> Any:
    """A statement built once per dialect (building ``excluded`` and friends costs ~1 ms)."""
    key = (conn.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def upsert_counts(conn: sa.Connection, table: sa.Table, key: list[str], values: list[dict[str, Any]],
                  add: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET col = col + excluded.col for ``add``."""
    if not values:
        return

    def build(conn: sa.Connection) -> Any:
        stmt = db.dialect_insert(conn, table)
        return stmt.on_conflict_do_update(index_elements=key,
                                          set_={name: table.c[name] + stmt.excluded[name] for name in add})

    bulk(conn, f"upsert-{table.name}", build, values)


_PIPELINE = "(the pipelined writes of a batch)"


@contextlib.contextmanager
def pipelined(conn: sa.Connection, *, commit: bool = False) -> Iterator[None]:
    """PostgreSQL: send the :func:`bulk` writes of the block without waiting for each
    answer, and wait once, at its end (psycopg's pipeline mode); ``commit``: the
    transaction's COMMIT goes with them when the block raised nothing (the caller's commit
    then finds the transaction ended and sends nothing). On SQLite a plain block (the
    caller commits).

    A group commit's writes need no answer but "it worked": one after another they cost a
    round trip each, which the writer spends waiting (docs/scale-out.md "Capacity"). Errors
    keep their meaning: PostgreSQL skips what follows a failed statement up to the Sync
    (the COMMIT too), the caller's rollback ends the failed transaction, and the first
    error is raised at the block's end as SQLAlchemy's exception for it (a unique violation
    is an ``IntegrityError``, as outside the pipeline). Only DBAPI-cursor statements may
    run inside: SQLAlchemy's own execution reads each result as it is sent.
    """
    if db.is_sqlite(conn):
        yield
        return
    driver = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    assert driver is not None
    try:
        with driver.pipeline():
            yield
            if commit:
                db.driver_execute(conn, "COMMIT")
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(_PIPELINE, None, exc, dbapi.Error) from exc
