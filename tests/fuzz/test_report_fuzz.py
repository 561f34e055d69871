"""Fuzzing the server's report decoder (``report_decode.decode_report``).

Every sealed report the server opens goes through it. Whatever the bytes or JSON value:

* the only exception is ``ReportError``, with a field path and a short code, and its message
  never echoes a submitted value (report content may be personal data);
* a report it accepts round-trips: ``to_json`` of it decodes to an equal report, with nothing
  dropped, and encodes to the same bytes.

``tests/server/ingest/test_report_decode.py`` checks that the fast paths agree with
``report_from_json``; this checks the contract both share, on other generators.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings, strategies as st

from crashveil.errors import ReportError
from crashveil.policy import compute_fingerprint
from crashveil.server.ingest.decode import decode_report
from crashveil.wire import Environment, Frame, Report, Stack
from crashveil.wire.report import REPORT_FIELDS, Breadcrumb, ChainedError

FUZZ = settings.get_profile("crashveil-fuzz")
#: Planted in every generated string value; an error message must never contain it.
CANARY = "Qz7canary"
_CODE = re.compile(r"^[a-z0-9_]{1,40}$")


def _valid() -> Report:
    frames = tuple(Frame(f"app/m{i}.py", f"f{i}", i + 1, i % 2 == 0) for i in range(5))
    return Report(schema_version=1, policy_digest="sha256:" + "a" * 64, consent_level="diagnostic",
                  report_id="0b1f6c3e-2a4d-4f5e-9a7b-1c2d3e4f5a6b", crash_type="builtins.KeyError",
                  fingerprint=compute_fingerprint("builtins.KeyError", frames), error_code="errno:2",
                  mechanism="thread", stack=Stack(frames, elided=1),
                  chain=(ChainedError("cause", "builtins.OSError", message="m", stack=Stack(frames[:1])),),
                  occurred_hour="2026-05-01T12:00Z", release="1.0", install_id="ab" * 16,
                  environment=Environment("linux", "6", "cpython", "3.12", "x86_64"),
                  client_stats={"queued": 1}, comment="c", message="x", breadcrumbs=(Breadcrumb(3, "ui", "click"),))


VALID = json.loads(_valid().to_json())


def _decode(data: bytes | str, drop: bool) -> tuple[Report, tuple[str, ...]] | None:
    """The decoder's answer, or None for a refusal (after checking the refusal's shape)."""
    try:
        return decode_report(data, drop_unknown=drop)
    except ReportError as exc:
        assert isinstance(exc.field, str) and _CODE.match(exc.code), (exc.field, exc.code)
        assert CANARY not in str(exc).replace(exc.field, ""), "the error echoes a submitted value"
        return None


def _round_trips(report: Report) -> None:
    raw = report.to_json()
    again = decode_report(raw)
    assert (report, ()) == again
    assert raw == again[0].to_json()


def _check(data: bytes | str) -> None:
    for drop in (False, True):
        decoded = _decode(data, drop)
        if decoded is not None:
            _round_trips(decoded[0])


# -- arbitrary JSON-ish values ------------------------------------------------------------------

_text = st.text(max_size=30).map(lambda s: CANARY + s) | st.sampled_from(
    [CANARY + "\ud800", CANARY + "\x00", CANARY * 200, CANARY + "\n"])
_scalar = (st.none() | st.booleans() | st.integers(-(1 << 80), 1 << 80) | st.floats() | _text
           | st.sampled_from(["diagnostic", "errno:2", "2026-05-01T12:00Z", "ab" * 16, "thread", "cause", 0, 1]))
_keys = st.sampled_from([*REPORT_FIELDS, "frames", "file", "function", "line", "in_app", "elided", "relation",
                         "offset_s", "category", "os_family", "x"]) | st.text(max_size=70)
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
                     max_leaves=20)


def _dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")


@FUZZ
@given(_json, st.booleans())
def test_any_json_value_is_a_report_or_a_report_error(value: Any, ascii_only: bool) -> None:
    """Random JSON (NaN, huge ints, lone surrogates, report-like keys): a round-tripping report or ReportError."""
    _check(_dumps(value, ascii_only))


@FUZZ
@given(st.dictionaries(_keys, _json, max_size=8).map(lambda extra: {**VALID, **extra}), st.booleans())
def test_valid_report_with_random_fields_over_it(value: dict[str, Any], as_str: bool) -> None:
    """A valid report with random keys set or added: only ReportError, and what is accepted round-trips."""
    raw = _dumps(value, False)
    _check(raw.decode("utf-8", "surrogatepass") if as_str else raw)


# -- mutations of a valid report ------------------------------------------------------------------

def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, prefix + (index,))
    return out


PATHS = [path for path in _paths(VALID) if path]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["replace", "delete", "duplicate"]), _json),
                min_size=1, max_size=5))
def test_mutated_valid_reports(mutations: list[tuple[tuple[Any, ...], str, Any]]) -> None:
    """Deep edits (replace anywhere, delete, duplicate list items past their caps): ReportError or a round trip."""
    data = json.loads(json.dumps(VALID))
    for path, op, value in mutations:
        try:
            parent = data
            for step in path[:-1]:
                parent = parent[step]
            if op == "replace":
                parent[path[-1]] = value
            elif op == "delete":
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.extend([parent[path[-1]]] * 40)
        except (KeyError, IndexError, TypeError):
            continue
    _check(_dumps(data, False))


@FUZZ
@given(st.integers(0, 1 << 16), st.integers(0, 32), st.binary(max_size=32))
def test_byte_spliced_valid_reports(at: int, cut: int, insert: bytes) -> None:
    """Bytes spliced into a valid report (truncation, broken UTF-8, control bytes): the same contract."""
    raw = _valid().to_json()
    at %= len(raw) + 1
    _check(raw[:at] + insert + raw[at + cut:])


def test_valid_report_round_trips() -> None:
    """The reference report itself decodes and re-encodes unchanged."""
    _round_trips(decode_report(_valid().to_json())[0])
