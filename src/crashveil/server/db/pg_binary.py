"""PostgreSQL's binary array format, written here for the column types the write path sends.

:class:`~crashveil.server.db.pg_arrays.ArrayWrite` sends one array per column; psycopg's
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

import struct
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

__all__ = ["encode", "register"]

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
