"""The server's fast report parser gives exactly what ``report_from_json`` gives.

Equal ``Report`` and equal dropped paths when it accepts; the same ``ReportError``
(field, code, message) when it refuses. Checked on random mutations of valid reports (JSON
value level and byte level), on random JSON, and on the edge cases where ``json.loads`` and
msgspec differ.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from crashveil.errors import ReportError
from crashveil.policy import compute_fingerprint
from crashveil.server.ingest.decode import decode_report
from crashveil.wire import LIMITS, ChainedError, Environment, Frame, Report, Stack
from crashveil.wire.report import Breadcrumb, report_from_json

_SETTINGS = settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _report(frames: int = 30) -> Report:
    stack = tuple(Frame(f"app/mod{i}.py", f"fn_{i}", 10 + i, i % 3 != 0) for i in range(frames))
    return Report(
        schema_version=1,
        policy_digest="sha256:" + "a" * 64,
        consent_level="diagnostic",
        report_id="0b1f6c3e-2a4d-4f5e-9a7b-1c2d3e4f5a6b",
        crash_type="builtins.ValueError",
        fingerprint=compute_fingerprint("builtins.ValueError", stack),
        error_code="errno:2",
        mechanism="excepthook",
        stack=Stack(frames=stack, elided=3),
        chain=(ChainedError(relation="cause", crash_type="builtins.KeyError", message="<input>",
                            stack=Stack(frames=stack[:2])),
               ChainedError(relation="context", crash_type="builtins.OSError", error_code="errno:13")),
        occurred_hour="2026-11-27T04:00Z",
        release="1.2.3",
        environment=Environment("linux", "6", "cpython", "3.11", "x86_64"),
        install_id="0123456789abcdef0123456789abcdef",
        client_stats={"sampled_out": 2, "queued": 0},
        comment="it broke",
        message="invalid literal <input>",
        breadcrumbs=(Breadcrumb(5, "http", "GET /"), Breadcrumb(0, "ui", "click")),
    )


VALID = json.loads(_report().to_json())


def _outcome(fn: Any, data: Any, drop: bool) -> Any:
    try:
        report, dropped = fn(data, drop_unknown=drop)
    except ReportError as exc:
        return ("error", exc.field, exc.code, str(exc))
    assert type(report) is Report
    return ("ok", report, dropped)


def _same(data: Any) -> None:
    for drop in (False, True):
        expected = _outcome(report_from_json, data, drop)
        assert expected == _outcome(decode_report, data, drop)


# -- value-level mutations of a valid report ------------------------------------------

_scalar = (st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats(allow_nan=False)
           | st.text(max_size=80) | st.sampled_from(["cause", "context", "excepthook", "errno:2", "errno:2\n",
                                                    "2026-11-27T04:00Z", "sha256:" + "b" * 64, "x" * 257,
                                                    "x" * 2049, "\ud800", "a_b", "A", 0, -1, 86_400, 86_401]))
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=70) | st.sampled_from(["file", "line", "frames"]), inner,
                                       max_size=4), max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, prefix + (index,))
    return out


ALL_PATHS = _paths(VALID)


def _apply(data: Any, path: tuple[Any, ...], op: str, value: Any, key: str) -> Any:
    if op == "add":  # a key (or an item) added to the object (or array) at ``path``
        node = data
        for step in path:
            node = node[step]
        if isinstance(node, dict):
            node[key] = value
        elif isinstance(node, list):
            node.append(value)
        return data
    if not path:
        return value if op == "replace" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if op == "replace":
        parent[path[-1]] = value
    elif op == "delete":
        del parent[path[-1]]
    elif op == "null":
        parent[path[-1]] = None
    return data


_mutation = st.tuples(st.sampled_from(ALL_PATHS), st.sampled_from(["replace", "delete", "add", "add", "null"]), _json,
                      st.text(max_size=70) | st.sampled_from(["extra", "z" * 65, "file"]))


@_SETTINGS
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_valid_reports_give_the_same_result(mutations: list[Any]) -> None:
    """Random edits (replace, delete, add keys/items, null) to a valid report: same result."""
    data = json.loads(json.dumps(VALID))
    for path, op, value, key in mutations:
        try:
            data = _apply(data, path, op, value, key)
        except (KeyError, IndexError, TypeError):
            continue
    _same(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    _same(json.dumps(data))


@_SETTINGS
@given(st.binary(max_size=64), st.integers(0, 8000), st.integers(0, 64))
def test_byte_mutations_give_the_same_result(insert: bytes, at: int, cut: int) -> None:
    """Bytes spliced into a valid report (truncation, garbage, broken UTF-8): same result."""
    raw = _report().to_json()
    at %= len(raw) + 1
    _same(raw[:at] + insert + raw[at + cut:])


@_SETTINGS
@given(_json)
def test_random_json_gives_the_same_result(value: Any) -> None:
    _same(json.dumps(value).encode())


@_SETTINGS
@given(st.binary(max_size=512))
def test_random_bytes_give_the_same_result(data: bytes) -> None:
    _same(data)


# -- edge cases where json.loads and msgspec differ or the depth rule bites --------------

def _with(extra: str) -> bytes:
    return _report().to_json()[:-1] + b"," + extra.encode("utf-8", "surrogatepass") + b"}"


EDGE_CASES = [
    _with('"x":NaN'), _with('"x":Infinity'), _with('"x":-Infinity'), _with('"x":1e999'),
    _with('"x":' + "1" * 4301), _with('"x":' + "1" * 4300), _with('"x":"\\ud800"'), _with('"x":"\\udc00\\ud800"'),
    _with('"message":"\\ud800"'), _with('"x":"\x7f"'), b"\xef\xbb\xbf" + _report().to_json(),
    _report().to_json().replace(b'"1.2.3"', b'"1.2.3\xed\xa0\x80"'), _report().to_json().replace(b"{", b"\n{", 1),
    _with('"x":' + "[" * 7 + "]" * 7), _with('"x":' + "[" * 8 + "]" * 8), _with('"x":{"a":[[[[[{}]]]]]}'),
    _with('"x":' + "[" * 5000 + "]" * 5000), _with('"release":"1.2.3","release":"4.5.6"'),
    _with('"release":null'), _with('"schema_version":true'), _with('"schema_version":1.0'),
    _with('"install_id":"0123456789abcdef0123456789abcdef\\n"'), _with('"client_stats":{"A":1}'),
    _with('"client_stats":{"a":true}'), _with("\"" + "k" * 65 + "\":1"),
    b" " * (LIMITS["max_report_bytes"] + 1) + b"{}", b"", b"[]", b"null", b"1",
    # where the typed path (msgspec Structs) must refuse or agree
    _report().to_json().replace(b'"elided":3', b'"elided":null'),
    _report().to_json().replace(b'"line":10', b'"line":10.0'),
    _report().to_json().replace(b'"in_app":false', b'"in_app":0', 1),
    _report().to_json().replace(b'"errno:13"', b'"errno:13\\n"'), _with('"mechanism":null'),
    _report().to_json().replace(b'"category":"ui"', b'"category":"' + b"x" * 65 + b'"'),
    _report().to_json().replace(b'"fn_0"', "\"\u00e9\U0001f600".encode() * 128 + b'"', 1),
    _report().to_json().replace(b'"fn_0"', "\"\u00e9\U0001f600".encode() * 129 + b'"', 1),
    _with('"stack":{"frames":[]}'), _with('"chain":[]'), _with('"client_stats":{"a":-1}'),
]


@pytest.mark.parametrize("raw", EDGE_CASES, ids=[f"case{i}" for i in range(len(EDGE_CASES))])
def test_edge_cases_give_the_same_result(raw: bytes) -> None:
    _same(raw)


def test_depth_of_dropped_values_is_measured_where_they_sit() -> None:
    """An unknown key inside a chained frame counts its nesting from that frame's depth."""
    data = json.loads(json.dumps(VALID))
    data["chain"][0]["stack"]["frames"][0]["x"] = [[[]]]  # frame at depth 6: 6 + 3 > 8
    _same(json.dumps(data))
    data["chain"][0]["stack"]["frames"][0]["x"] = [[]]  # 6 + 2 = 8
    _same(json.dumps(data))
    assert ("chain[0].stack.frames[0].x",) == decode_report(json.dumps(data), drop_unknown=True)[1]


def test_valid_reports_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback is for refusals only: valid reports never reach report_from_json."""
    import crashveil.server.ingest.decode as module

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fell back")

    monkeypatch.setattr(module, "report_from_json", refuse)
    report = _report()
    assert (report, ()) == decode_report(report.to_json())
    data = json.loads(json.dumps(VALID))
    data["new_field"] = {"a": [1]}
    data["stack"]["frames"][1]["colno"] = 3
    assert (report, ("new_field", "stack.frames[1].colno")) == decode_report(json.dumps(data), drop_unknown=True)
    assert (_report(0), ()) == decode_report(_report(0).to_json())


def test_reports_without_unknown_keys_take_the_typed_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgspec's typed decoding (Struct mirrors) serves every valid report without unknown
    keys: neither the generic fast path nor report_from_json runs."""
    import crashveil.server.ingest.decode as module

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fell back")

    monkeypatch.setattr(module, "_build_report", refuse)
    monkeypatch.setattr(module, "report_from_json", refuse)
    for report in (_report(), _report(0), _report(64)):
        assert (report, ()) == decode_report(report.to_json(), drop_unknown=True)
        assert type(decode_report(report.to_json())[0].stack.frames) is tuple


def test_msgspec_refuses_lone_surrogates() -> None:
    """The fast path skips report.py's lone-surrogate check because msgspec never yields one."""
    import msgspec

    for raw in (b'"\\ud800"', b'"\\udfff"', b'"\\udc00\\ud800"', b'"a\\ud83d"', b'{"\\ud800":1}',
                b'"\xed\xa0\x80"'):
        with pytest.raises((msgspec.DecodeError, UnicodeDecodeError)):
            msgspec.json.decode(raw)


def test_decoded_dataclasses_are_like_constructed_ones() -> None:
    """The fast constructor fills the same instance dict the frozen __init__ would."""
    report, _ = decode_report(_report().to_json())
    assert report == _report() and hash(report.stack) == hash(_report().stack)
    assert type(report.stack.frames[0]) is Frame
    assert vars(report.stack.frames[0]) == vars(Frame("app/mod0.py", "fn_0", 10, False))


@_SETTINGS
@given(st.text(max_size=20), st.integers(0, 10))
def test_replace_fields_is_dataclasses_replace(message: str, elided: int) -> None:
    import dataclasses

    from crashveil.server.ingest.decode import replace_fields

    report = _report(3)
    assert dataclasses.replace(report, message=message) == replace_fields(report, message=message)
    assert dataclasses.replace(report.stack, elided=elided) == replace_fields(report.stack, elided=elided)
    assert replace_fields(report, message=message) is not report and report.message == "invalid literal <input>"
