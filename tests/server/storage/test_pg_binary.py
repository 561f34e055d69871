"""``db.pg_arrays.encode``: the arrays the write path encodes itself read back on PostgreSQL as
psycopg's own would (every written type, NULLs, edge values), and what it does not encode
is left to psycopg (so PostgreSQL refuses it as before)."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from crashveil.server.db.pg_arrays import encode, register

pytestmark = pytest.mark.postgres

CASES = [
    ("INTEGER[]", [0, 1, -1, 2**31 - 1, -(2**31), None]),
    ("INTEGER[]", [7, -(2**31), 2**31 - 1]),  # no NULL: the packed path
    ("BIGINT[]", [0, 2**63 - 1, -(2**63), None]),
    ("TEXT[]", ["", "a", "Straße 💥", "x" * 3000, None, "quote ' \" \\ , {}"]),
    ("TEXT[]", ["", "Straße 💥", "NULL"]),  # no NULL: the joined path
    ("BYTEA[]", [b"", b"\x00\xff" * 100, None]),
    ("BOOLEAN[]", [True, False, None]),
    ("TIMESTAMP WITHOUT TIME ZONE[]", [datetime(2026, 12, 7, 14, 3, 5, 123456), datetime(1999, 12, 31, 23, 59, 59, 1),
                                       datetime(1970, 1, 1), None]),
]


def test_encoded_arrays_read_back_as_sent(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        register(conn)
        for array_type, values in CASES:
            encoded = encode(array_type, values)
            assert isinstance(encoded, bytes), array_type
            (back,) = conn.execute(f"SELECT %(a)b::{array_type}", {"a": encoded}).fetchone()  # type: ignore[misc]
            assert back == values, array_type


def test_values_it_does_not_write_are_left_to_psycopg(pg_url: str) -> None:
    assert encode("INTEGER[]", [2**31]) == [2**31]  # out of range: PostgreSQL says so, as before
    assert encode("TEXT[]", ["a", 5]) == ["a", 5]
    assert encode("INTEGER[]", [1, "2"]) == [1, "2"]
    assert encode("NUMERIC[]", [1]) == [1]
    with psycopg.connect(pg_url) as conn:
        register(conn)
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):
            conn.execute("SELECT %(a)b::INTEGER[]", {"a": encode("INTEGER[]", [2**31])})
