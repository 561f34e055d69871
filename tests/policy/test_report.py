"""The wire format v1 round-trips strictly and refuses anything outside its limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import ReportError
from crashveil.policy import compute_fingerprint
from crashveil.wire import LIMITS, ChainedError, Environment, Frame, Report, Stack, json_schema, report_from_json

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


def _report(**changes: Any) -> Report:
    frames = (Frame("app/core.py", "load", 12, True), Frame("app/main.py", "run", 40, True))
    base = dict(
        schema_version=1,
        policy_digest="sha256:" + "a" * 64,
        consent_level="diagnostic",
        report_id="0b1f6c3e-2a4d-4f5e-9a7b-1c2d3e4f5a6b",
        crash_type="builtins.ValueError",
        fingerprint=compute_fingerprint("builtins.ValueError", frames),
        error_code="errno:2",
        mechanism="excepthook",
        stack=Stack(frames=frames, elided=3),
        chain=(ChainedError(relation="cause", crash_type="builtins.KeyError", message="<input>"),),
        occurred_hour="2026-11-27T04:00Z",
        release="1.2.3",
        environment=Environment("linux", "6", "cpython", "3.11", "x86_64"),
        install_id="0123456789abcdef0123456789abcdef",
        client_stats={"sampled_out": 2},
        message="invalid literal <input>",
    )
    base.update(changes)
    return Report(**base)  # type: ignore[arg-type]


def test_round_trip_is_exact() -> None:
    """A report survives to_json and report_from_json unchanged."""
    report = _report()
    parsed, dropped = report_from_json(report.to_json())
    assert report == parsed
    assert () == dropped


def test_to_json_is_stable_bytes() -> None:
    """The same report always serialises to the same bytes (sorted keys, compact)."""
    assert _report().to_json() == _report().to_json()


def test_unknown_field_rejected_or_dropped() -> None:
    """Unknown keys are an error in strict mode and a reported drop otherwise."""
    data = json.loads(_report().to_json())
    data["hostname"] = "alice-laptop"
    data["stack"]["frames"][0]["locals"] = {"password": "hunter2"}
    with pytest.raises(ReportError) as info:
        report_from_json(json.dumps(data))
    assert "unknown_field" == info.value.code
    report, dropped = report_from_json(json.dumps(data), drop_unknown=True)
    assert ("stack.frames[0].locals", "hostname") == tuple(sorted(dropped, key=len, reverse=True))
    assert "alice-laptop" not in report.to_json().decode()


@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [
        (lambda d: d.update(crash_type="x" * 300), "crash_type", "too_long"),
        (lambda d: d.update(message="m" * (LIMITS["max_message_chars"] + 1)), "message", "too_long"),
        (lambda d: d["stack"].update(frames=d["stack"]["frames"] * 40), "stack.frames", "too_many"),
        (lambda d: d.update(report_id="../../etc/passwd"), "report_id", "bad_format"),
        (lambda d: d.update(occurred_hour="2026-11-27T04:13Z"), "occurred_hour", "bad_format"),
        (lambda d: d.update(schema_version=2), "schema_version", "out_of_range"),
        (lambda d: d.update(schema_version=True), "schema_version", "wrong_type"),
        (lambda d: d.pop("crash_type"), "crash_type", "missing"),
        (lambda d: d.update(mechanism="telepathy"), "mechanism", "bad_value"),
        (lambda d: d["stack"]["frames"][0].update(line=10**30), "stack.frames[0].line", "out_of_range"),
        (lambda d: d.update(message="\ud800"), "message", "invalid_string"),
        (lambda d: d.update(client_stats={"Bad Key": 1}), "client_stats", "bad_key"),
        (lambda d: d.update(install_id="alice"), "install_id", "bad_format"),
    ],
)
def test_limits_and_types_are_enforced(mutate, field: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """Each broken rule yields a ReportError naming the field path and a reason code."""
    data = json.loads(_report().to_json())
    mutate(data)
    with pytest.raises(ReportError) as info:
        report_from_json(json.dumps(data))
    assert (field, code) == (info.value.field, info.value.code)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{" * 100_000, "too_large"),
        (b"[" * 5000 + b"]" * 5000, "too_deep"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"{\"a\": 1", "invalid_json"),
        (b"[]", "wrong_type"),
        (b"{\"n\": " + b"9" * 5000 + b"}", "invalid_json"),
    ],
)
def test_hostile_bytes_are_clean_errors(raw: bytes, code: str) -> None:
    """Oversized, deeply nested, non-UTF-8 and non-JSON inputs are ReportErrors, never crashes."""
    with pytest.raises(ReportError) as info:
        report_from_json(raw)
    assert code == info.value.code


def test_restricted_to_drops_fields_and_chain_messages() -> None:
    """Restricting to the crash level removes the message, including chained messages."""
    restricted = _report().restricted_to(["stack", "release"])
    assert restricted.message is None
    assert restricted.chain is None
    assert restricted.crash_type == "builtins.ValueError"
    kept_chain = _report().restricted_to(["chain"])
    assert kept_chain.chain is not None and kept_chain.chain[0].message is None


def test_fingerprint_ignores_line_numbers_but_not_functions() -> None:
    """Moving a line keeps the fingerprint; a different function changes it."""
    a = compute_fingerprint("E", [Frame("app/a.py", "f", 1, True)])
    b = compute_fingerprint("E", [Frame("app/a.py", "f", 99, True), Frame("lib/x.py", "g", 5, False)])
    c = compute_fingerprint("E", [Frame("app/a.py", "h", 1, True)])
    assert a == b
    assert a != c


def test_committed_json_schema_is_current() -> None:
    """docs/report.schema.json matches the dataclasses (regenerate with `crashveil policy schema`)."""
    committed = json.loads(SCHEMA_FILE.read_text())
    assert json_schema() == committed


def test_json_schema_accepts_a_real_report() -> None:
    """A report produced by the dataclasses validates against the generated schema."""
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(_report().to_json()), json_schema())
