"""Hostile input the other suites do not already send (see docs/reliability.md for those):
text that breaks storage (lone surrogates, NUL) on SQLite and PostgreSQL, very wide JSON,
path- and SQL-like ids, malformed HPKE envelopes over HTTP, log-line forging, and the
fuzz targets of ``scripts/fuzz.py`` under hypothesis with a fixed budget."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.http.app import create_app
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

servers = sys.modules["crashveil_tests_servers"]
fuzz = servers.load_module("crashveil_scripts_fuzz", Path(__file__).resolve().parents[2] / "scripts" / "fuzz.py")
NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
REPORTS = "/api/v1/projects/demo/reports"


def _client(storage: Any) -> TestClient:
    return TestClient(create_app(storage.settings, storage, now=lambda: NOW))


def _seal(storage: Any, payload: bytes) -> bytes:
    key = storage.project("demo").keypairs[0].public_key()
    return seal_report(payload, key, project_id="demo", schema_version=1)


def _report_json(**changes: Any) -> bytes:
    data = sys.modules["crashveil_tests_server_conftest"].build_report().to_dict()
    data.update(changes)
    return json.dumps(data, ensure_ascii=True).encode()


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\u0000byte", "\u0000", "\U0001f600\u202e\u2028"],
                         ids=["lone-high", "lone-low", "nul-inside", "only-nul", "emoji-bidi-ls"])
def test_text_that_breaks_storage_is_stored_cleanly_or_refused_never_5xx(any_storage: Any, text: str) -> None:
    """Lone surrogates and NUL in message and function names: a 2xx (stored, readable) or a 4xx."""
    body = _report_json(message=text)
    data = json.loads(body)
    data["stack"]["frames"][1]["function"] = "f" + text
    response = _client(any_storage).post(REPORTS, content=_seal(any_storage, json.dumps(data).encode()),
                                         headers=HEADERS)
    readable = True
    if response.status_code == 201:
        readable = any_storage.report_detail("demo", data["report_id"]) is not None
    assert (False, True) == (response.status_code >= 500, readable), response.text


def test_very_wide_json_is_4xx(storage: Any) -> None:
    """An object with 100,000 keys inside a valid seal is refused with a 4xx, never a 5xx."""
    wide = json.dumps({f"k{i}": i for i in range(100_000)}).encode()
    response = _client(storage).post(REPORTS, content=_seal(storage, wide), headers=HEADERS)
    assert (True, {"error", "field", "message"}) == (400 <= response.status_code < 500, set(response.json()))


@pytest.mark.parametrize("path", [
    "/api/v1/projects/..%2F..%2Fetc%2Fpasswd/reports", "/api/v1/projects/demo'%20OR%20'1'='1/reports",
    "/api/v1/projects/demo%00/reports", "/api/v1/projects/DEMO/reports", "/api/v1/projects/" + "a" * 300 + "/reports",
    "/api/v1/receipts/'%20OR%201=1--", "/api/v1/receipts/..%2F..%2Fcrashveil.db", "/api/v1/projects/demo;DROP/config",
])
def test_path_and_sql_like_ids_are_4xx_and_change_nothing(storage: Any, path: str) -> None:
    """Ids shaped like paths or SQL get a 4xx, and the database still has its one project."""
    client = _client(storage)
    answer = client.get(path) if "/receipts/" in path or path.endswith("/config") else \
        client.post(path, content=b"x", headers=HEADERS)
    assert (True, ["demo"]) == (400 <= answer.status_code < 500, [p.id for p in storage.list_projects()])


@pytest.mark.parametrize("damage", ["empty", "magic-only", "truncated", "bit-flip-header", "bit-flip-tag",
                                    "suite-swapped", "appended"])
def test_malformed_hpke_envelopes_over_http_are_400_unsealable(storage: Any, damage: str) -> None:
    """Every kind of damaged sealed envelope is the one opaque 400 ``unsealable``."""
    sealed = bytearray(_seal(storage, _report_json()))
    body = {"empty": b"", "magic-only": bytes(sealed[:4]), "truncated": bytes(sealed[: len(sealed) // 2]),
            "bit-flip-header": bytes(sealed[:6]) + bytes([sealed[6] ^ 1]) + bytes(sealed[7:]),
            "bit-flip-tag": bytes(sealed[:-1]) + bytes([sealed[-1] ^ 0x80]),
            "suite-swapped": bytes(sealed[:4]) + bytes([sealed[4] ^ 0x7F]) + bytes(sealed[5:]),
            "appended": bytes(sealed) + b"\x00" * 16}[damage]
    response = _client(storage).post(REPORTS, content=body, headers=HEADERS)
    expected = (400, "empty_body") if damage == "empty" else (400, "unsealable")
    assert expected == (response.status_code, response.json()["error"])


def test_crlf_and_ansi_in_requests_cannot_forge_log_lines(storage: Any, caplog: pytest.LogCaptureFixture) -> None:
    """CR/LF, ANSI escapes and fake JSON in path, headers and report fields leave one escaped line each."""
    caplog.set_level(logging.DEBUG)
    client = _client(storage)
    forged = '\r\n{"level":"admin"}\x1b[31mFORGED'
    client.post(REPORTS, content=_seal(storage, _report_json(crash_type=forged, message=forged)), headers=HEADERS)
    client.post("/api/v1/projects/demo%0d%0aFORGED%1b[0m/reports", content=b"x", headers=HEADERS)
    client.post(REPORTS, content=b"x", headers={**HEADERS, "Content-Encoding": "gzip\x1b[31m"})
    lines = [record.getMessage() for record in caplog.records if record.name.startswith(("crashveil", "uvicorn"))]
    assert (True, []) == (
        len(lines) >= 1,
        [line for line in lines if "\x1b" in line or "\r" in line or "FORGED" in line],
    )


_FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("target", sorted(fuzz.TARGETS))
def test_fuzz_target_raises_only_its_own_error(target: str) -> None:
    """Random and mutated-valid bytes make each parser raise only its documented error (300 examples)."""
    fn = fuzz.TARGETS[target]
    pool = fuzz.seeds(target)
    mutated = st.tuples(st.sampled_from(pool), st.integers(0, 4096), st.binary(max_size=64)).map(
        lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1) + len(t[2]):])
    failures: list[str] = []

    @_FUZZ
    @given(st.one_of(st.binary(max_size=4096), mutated))
    def run(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]} <- {data[:80]!r}")

    run()
    assert [] == failures[:3]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=5), max_leaves=20)


@_FUZZ
@given(field=st.sampled_from(["message", "crash_type", "release", "occurred_hour", "install_id", "stack",
                              "environment", "chain", "breadcrumbs", "client_stats", "comment", "report_id"]),
       value=_json)
def test_report_parser_with_any_value_in_any_field_raises_only_report_error(field: str, value: Any) -> None:
    """A valid report with one field replaced by any JSON value parses or raises ReportError."""
    data = json.loads(_report_json())
    data[field] = value
    fuzz.fuzz_report(json.dumps(data).encode())
