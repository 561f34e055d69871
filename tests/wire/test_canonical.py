"""The one canonical JSON encoder: the bytes every signature, hash chain and digest was made over."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from crashveil.wire.canonical import canonical_json

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


def test_golden_bytes() -> None:
    """Sorted keys at every depth, no whitespace, UTF-8 (or escaped on request), tuples as arrays."""
    value = {"b": 1, "a": [1.5, None, True], "c": {"y": "é", "x": ("t", 2)}}
    assert b'{"a":[1.5,null,true],"b":1,"c":{"x":["t",2],"y":"\xc3\xa9"}}' == canonical_json(value)
    assert b'{"a":[1.5,null,true],"b":1,"c":{"x":["t",2],"y":"\\u00e9"}}' == canonical_json(value, ensure_ascii=True)


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_same_bytes_as_the_encodings_it_replaced(value: Any) -> None:
    """Byte for byte what the hand-written ``json.dumps`` calls wrote (digests and signatures stay valid)."""
    for ascii_only in (False, True):
        old = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode("utf-8")
        assert old == canonical_json(value, ensure_ascii=ascii_only)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_refuses_nan_and_infinities(number: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"rate": number})


def test_refuses_what_json_has_no_form_for() -> None:
    """A datetime or a set is the caller's to convert: its form is part of that caller's format."""
    with pytest.raises(TypeError):
        canonical_json({"ids": {"a"}})
