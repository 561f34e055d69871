"""PostgreSQL: many rows in ONE statement, their values sent as one array per column.

``executemany`` through psycopg runs the statement once per row on the server (pipelined,
but still a Bind/Execute, an executor start and an index descent setup per row, and a
dump per row in this process). :class:`ArrayWrite` rewrites a one-row INSERT (with or
without ``ON CONFLICT``) or UPDATE into one statement over ``unnest`` of per-column arrays:

    INSERT INTO t (a, b) SELECT * FROM unnest(%(a)b::INTEGER[], %(b)b::TEXT[]) ON CONFLICT ...
    UPDATE t SET a = v.a FROM unnest(%(id)b::INTEGER[], %(a)b::INTEGER[]) AS v(id, a) WHERE t.id = v.id

Its text does not depend on the row count, so psycopg prepares it once and the server plans
it once. Rows must not repeat a key an ``ON CONFLICT DO UPDATE`` updates (PostgreSQL refuses
to update a row twice in one statement): callers aggregate by key first. Values go through
the columns' bind processors (``UtcDateTime``: aware to naive UTC) as SQLAlchemy would, and
the arrays travel in binary (``%(name)b``): text arrays cost a regex escape per element and
hex per byte of a detail blob in this process.

The arrays themselves (:func:`encode`): psycopg's
generic list dumper finds each list's element type and dumps element by element in Python
(~3 us an element: a quarter of the group-commit writer's CPU on PostgreSQL in the
profile). :func:`encode` writes the ``array_send`` format directly for ``INTEGER[]``,
``BIGINT[]``, ``TEXT[]``, ``BYTEA[]``, ``BOOLEAN[]`` and ``TIMESTAMP WITHOUT TIME ZONE[]``
(~0.3 us an element) and hands psycopg the bytes with the array's type; any other type, or
a value that does not fit (an integer out of range, a non-string for TEXT), is left to
psycopg as before, so PostgreSQL still refuses what it refused.

Format (PostgreSQL ``array_send``): ndim, has-nulls flag, element type oid, then per
dimension its length and lower bound (1), then per element its length (-1: NULL) and bytes.
"""

from __future__ import annotations

import re
import struct
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import Connection

__all__ = ["ArrayLookup", "ArrayWrite", "encode", "register"]

#: Compiles binds as plain ``%(name)s`` (no casts): the casts are written here, as arrays.
_PLAIN = PGDialect(paramstyle="pyformat")
_BIND = re.compile(r"%\((\w+)\)s")
_VALUES = re.compile(r"\) VALUES \((.*?)\)(?= ON CONFLICT|$)", re.S)


class ArrayWrite:
    """One statement for many rows (see the module docstring); ``build(conn)`` makes the
    one-row statement, ``keys`` are the parameter names every row has."""

    def __init__(self, build: Callable[[Connection], Any], keys: Sequence[str]) -> None:
        self._build = build
        self.keys = tuple(keys)
        self._plan: tuple[str, tuple[tuple[str, str, Any], ...]] | None = None

    def _make_plan(self, conn: Connection) -> tuple[str, tuple[tuple[str, str, Any], ...]]:
        """(SQL over arrays, (parameter name, array type, bind processor or None) in any order)."""
        stmt = self._build(conn)
        compiled = stmt.compile(dialect=_PLAIN, column_keys=list(self.keys))
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        types = {name: _array_type(bind.type) for name, bind in binds.items()}
        sql = compiled.string
        if isinstance(stmt, sa.Insert):
            sql = _insert_over_arrays(sql, types)
        elif isinstance(stmt, sa.Update):
            sql = _update_over_arrays(sql, types)
        else:
            raise TypeError(f"ArrayWrite takes an INSERT or an UPDATE, not a {type(stmt).__name__}")
        dialect = conn.dialect
        processors = tuple((name, types[name], bind.type.dialect_impl(dialect).bind_processor(dialect))
                           for name, bind in binds.items())
        return sql, processors

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._plan is None:
            self._plan = self._make_plan(conn)
        sql, processors = self._plan
        params: dict[str, list[Any]] = {}
        for name, array_type, processor in processors:
            column = [row[name] for row in rows]
            if processor is not None:
                column = [None if value is None else processor(value) for value in column]
            params[name] = encode(array_type, column)
        dbapi = conn.dialect.loaded_dbapi
        register(conn.connection.driver_connection)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, params)
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        finally:
            cursor.close()


def _array_type(type_: Any) -> str:
    """The PostgreSQL array type of a column type: ``INTEGER[]``, ``BYTEA[]`` ...; strings
    are ``TEXT[]``, so a value too long for its column fails on assignment, as one row
    would (a cast to ``VARCHAR(n)`` would cut it silently)."""
    impl = type_.dialect_impl(_PLAIN)
    if isinstance(impl, sa.String):
        return "TEXT[]"
    return str(_PLAIN.type_compiler_instance.process(impl)) + "[]"


def _insert_over_arrays(sql: str, types: Mapping[str, str]) -> str:
    """``INSERT ... VALUES (%(a)s, ...) [ON CONFLICT ...]`` as ``INSERT ... SELECT * FROM unnest(...)``."""
    sql = sql.split(" RETURNING ", 1)[0]
    match = _VALUES.search(sql)
    if match is None:
        raise ValueError("not a one-row INSERT ... VALUES statement")
    names = _BIND.findall(match.group(1))
    if _BIND.sub("", match.group(1)).replace(",", "").strip():
        raise ValueError("ArrayWrite takes plain bound values only")
    arrays = ", ".join(f"%({name})b::{types[name]}" for name in names)
    return f"{sql[:match.start()]}) SELECT * FROM unnest({arrays}){sql[match.end():]}"


def _update_over_arrays(sql: str, types: Mapping[str, str]) -> str:
    """``UPDATE t SET a=%(a)s ... WHERE t.id = %(id)s`` as ``UPDATE t SET a=v.a ... FROM
    unnest(...) AS v(...) WHERE t.id = v.id``."""
    head, sep, where = sql.partition(" WHERE ")
    if not sep:
        raise ValueError("ArrayWrite updates rows named by a WHERE clause")
    names = list(dict.fromkeys(_BIND.findall(sql)))
    arrays = ", ".join(f"%({name})b::{types[name]}" for name in names)
    columns = ", ".join(f"p_{name}" for name in names)
    head, where = (_BIND.sub(lambda m: f"v.p_{m.group(1)}", part) for part in (head, where))
    return f"{head} FROM unnest({arrays}) AS v({columns}) WHERE {where}"


class ArrayLookup:
    """Rows of ``table`` for many keys in one statement, each key found by its own index
    probe whatever the planner's statistics say:

        SELECT r.* FROM unnest(%(k_a)b::INTEGER[], ...) AS k(a, ...) CROSS JOIN LATERAL
            (SELECT <outputs> FROM t WHERE t.p = %(p)s AND t.a = k.a ... OFFSET 0) AS r

    (``OFFSET 0`` keeps the subquery a per-key probe, where a plain ``IN`` list was seen to
    read every row of the project instead. Which index it probes is still the planner's
    choice: on a table PostgreSQL has never analyzed, an index with the same leading column
    may look as cheap as the unique one, and a prepared plan keeps that choice until the
    statistics change; the writer asks for them early, ``storage.statistics``.)
    ``outputs`` are column names or SQL expressions over ``table`` (constants of the code).
    """

    def __init__(self, table: sa.Table, keys: Sequence[str], outputs: Sequence[str],
                 fixed: Sequence[str] = ()) -> None:
        self.keys = tuple(keys)
        self.fixed = tuple(fixed)
        self._types = tuple(_array_type(table.c[name].type) for name in keys)
        arrays = ", ".join(f"%(k_{name})b::{array_type}" for name, array_type in zip(keys, self._types, strict=True))
        where = " AND ".join([f"t.{name} = %(f_{name})s" for name in fixed]
                             + [f"t.{name} = k.{name}" for name in keys])
        self.sql = (f"SELECT r.* FROM unnest({arrays}) AS k({', '.join(keys)}) CROSS JOIN LATERAL "
                    f"(SELECT {', '.join(outputs)} FROM {table.name} AS t WHERE {where} OFFSET 0) AS r")

    def __call__(self, conn: Connection, keys: Sequence[tuple[Any, ...]], fixed: Sequence[Any] = ()) -> list[Any]:
        """The rows (tuples, no type conversion) of the distinct ``keys`` found."""
        if not keys:
            return []
        params: dict[str, Any] = {f"f_{name}": value for name, value in zip(self.fixed, fixed, strict=True)}
        for index, (name, array_type) in enumerate(zip(self.keys, self._types, strict=True)):
            params[f"k_{name}"] = encode(array_type, [key[index] for key in keys])
        dbapi = conn.dialect.loaded_dbapi
        register(conn.connection.driver_connection)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, params)
            return list(cursor.fetchall())
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, dbapi.Error) from exc
        finally:
            cursor.close()


# --- the binary arrays ---------------------------------------------------------------------------

_HEADER = struct.Struct(">iiIii")
_LENGTH = struct.Struct(">i")
_NULL = _LENGTH.pack(-1)
_PG_EPOCH = datetime(2000, 1, 1)


def _int4(value: Any) -> bytes:
    if type(value) is not int:
        raise TypeError("not an int")
    return b"\x00\x00\x00\x04" + value.to_bytes(4, "big", signed=True)


def _int8(value: Any) -> bytes:
    if type(value) is not int:
        raise TypeError("not an int")
    return b"\x00\x00\x00\x08" + value.to_bytes(8, "big", signed=True)


def _text(value: Any) -> bytes:
    data = value.encode()  # AttributeError for a non-string: psycopg decides
    return _LENGTH.pack(len(data)) + data


def _bytea(value: Any) -> bytes:
    data = bytes(value)
    return _LENGTH.pack(len(data)) + data


def _bool(value: Any) -> bytes:
    if type(value) is not bool:
        raise TypeError("not a bool")
    return b"\x00\x00\x00\x01\x01" if value else b"\x00\x00\x00\x01\x00"


def _timestamp(value: Any) -> bytes:
    if type(value) is not datetime or value.tzinfo is not None:
        raise TypeError("not a naive datetime")  # the bind processor made UTC values naive
    delta = value - _PG_EPOCH
    return b"\x00\x00\x00\x08" + ((delta.days * 86400 + delta.seconds) * 1_000_000
                                  + delta.microseconds).to_bytes(8, "big", signed=True)


#: Array type (as ``pg_arrays`` writes it) -> (element oid, array oid, element encoder).
_ENCODERS: dict[str, tuple[int, int, Callable[[Any], bytes]]] = {
    "INTEGER[]": (23, 1007, _int4),
    "BIGINT[]": (20, 1016, _int8),
    "TEXT[]": (25, 1009, _text),
    "BYTEA[]": (17, 1001, _bytea),
    "BOOLEAN[]": (16, 1000, _bool),
    "TIMESTAMP WITHOUT TIME ZONE[]": (1114, 1115, _timestamp),
}

#: Array oid -> the ``bytes`` subclass :func:`encode` returns for it (see :func:`register`).
_WRAPPERS: dict[int, type[bytes]] = {oid: type(f"BinaryArray{oid}", (bytes,), {}) for _, oid, _ in _ENCODERS.values()}
_REGISTERED: weakref.WeakSet[Any] = weakref.WeakSet()
_DUMPERS: list[tuple[type[bytes], type[Any]]] = []


def register(connection: Any) -> None:
    """Let the psycopg ``connection`` send what :func:`encode` returns as it is, as the
    array type it was made for (once per connection, on its own adapters: SQLAlchemy's
    dialect gives each connection its own map when it connects, so a dumper registered
    later on psycopg's global map is not seen there)."""
    if connection in _REGISTERED:
        return
    if not _DUMPERS:
        from psycopg.adapt import Dumper
        from psycopg.pq import Format

        for oid, wrapper in _WRAPPERS.items():
            _DUMPERS.append((wrapper, type(f"BinaryArray{oid}Dumper", (Dumper,),
                                           {"format": Format.BINARY, "oid": oid, "dump": _as_is})))
    for wrapper, dumper in _DUMPERS:
        connection.adapters.register_dumper(wrapper, dumper)
    _REGISTERED.add(connection)


def _as_is(self: Any, obj: Any) -> bytes:
    return bytes(obj)


def encode(array_type: str, values: Sequence[Any]) -> Any:
    """``values`` as a binary array of ``array_type`` that psycopg sends as it is (on a
    connection passed to :func:`register`), or ``values`` unchanged when this module does
    not write that type or one of the values."""
    spec = _ENCODERS.get(array_type)
    if spec is None or not values:
        return values
    element_oid, array_oid, element = spec
    has_null = None in values
    try:
        if has_null:
            body = b"".join([_NULL if value is None else element(value) for value in values])
        elif element is _text:  # the commonest: one join, no call per element
            pack = _LENGTH.pack
            body = b"".join([pack(len(data)) + data for data in [value.encode() for value in values]])
        elif element is _int4 and all(type(value) is int for value in values):
            body = struct.pack(f">{2 * len(values)}i", *[part for value in values for part in (4, value)])
        else:
            body = b"".join([element(value) for value in values])
    except (TypeError, AttributeError, OverflowError, UnicodeEncodeError, struct.error):
        return values
    return _WRAPPERS[array_oid](_HEADER.pack(1, has_null, element_oid, len(values), 1) + body)
