"""Control and invisible formatting characters (issue 14, item 11).

Identifier fields refuse them (422 naming the field, on both decoders); free text keeps line
breaks and loses the rest; every text output shows what it prints visibly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.errors import ReportError
from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.http.app import create_app
from crashveil.server.ingest.decode import decode_report
from crashveil.textsafe import UNSAFE, md_cell, normalise_free_text, visible
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE
from crashveil.wire.report import report_from_json

from ..conftest import NOW

_spec = importlib.util.spec_from_file_location("crashveil_tests_report_fields",
                                               Path(__file__).parents[2] / "_report_fields.py")
fields = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fields)  # type: ignore[union-attr]

FREE_TEXT = {"message", "comment", "chain[0].message", "breadcrumbs[0].message", "message_template"}
IDENTIFIERS = [p for p in fields.string_paths() if p not in FREE_TEXT]
#: ESC sequence, bidi override, a trailing newline (``$`` in a pattern matches before it), NUL, C1.
NASTY = ["\x1b[31m", "\u202e", "\n", "\x00", "\x85", "\u2066", "\u200b", "\ufeff", "\U000e0041"]


def _value_for(path: str, nasty: str) -> str:
    """A value that is valid for ``path`` except for the nasty character."""
    valid = {"policy_digest": None, "report_id": None, "fingerprint": None, "occurred_hour": None,
             "install_id": None, "consent_level": "diagnostic", "error_code": "errno:2",
             "chain[0].error_code": "errno:13", "client_stats{key}": "dropped"}
    base = valid.get(path.split(".")[-1] if path.startswith("environment") else path, "x")
    if base is None:
        base = _get(fields.full_report(), path)
    return base + nasty


def _get(report: dict[str, Any], path: str) -> str:
    node: Any = report
    for part in path.replace("[0]", ".[0]").split("."):
        node = node[0] if part == "[0]" else node[part]
    return node  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", IDENTIFIERS)
@pytest.mark.parametrize("nasty", ["\x1b[31m", "\u202e", "\n"])
def test_identifier_fields_refuse_control_characters(path: str, nasty: str) -> None:
    """Both decoders refuse the report, with the same error naming the field."""
    report = fields.plant(fields.full_report(), path, _value_for(path, nasty))
    data = json.dumps(report).encode()
    with pytest.raises(ReportError) as slow:
        report_from_json(data, drop_unknown=True)
    with pytest.raises(ReportError) as fast:
        decode_report(data, drop_unknown=True)
    where = "client_stats" if path.endswith("{key}") else path
    assert (where, "control_character") == (slow.value.field, slow.value.code)
    assert (slow.value.field, slow.value.code, str(slow.value)) == (fast.value.field, fast.value.code, str(fast.value))


@pytest.mark.parametrize("nasty", NASTY)
def test_every_kind_of_unsafe_character_is_refused_in_crash_type(nasty: str) -> None:
    data = json.dumps(fields.full_report(crash_type="Key" + nasty + "Error")).encode()
    with pytest.raises(ReportError) as caught:
        decode_report(data)
    assert ("crash_type", "control_character") == (caught.value.field, caught.value.code)


@pytest.mark.parametrize("nasty", ["\x7f", "\u202e", "\x85"])
def test_raw_utf8_and_del_are_refused_too(nasty: str) -> None:
    """Not only as JSON escapes: a raw DEL byte or raw UTF-8 bidi/C1 character is refused."""
    data = json.dumps(fields.full_report(release="1.0" + nasty), ensure_ascii=False).encode()
    assert nasty.encode() in data
    with pytest.raises(ReportError) as caught:
        decode_report(data)
    assert ("release", "control_character") == (caught.value.field, caught.value.code)


def test_free_text_keeps_its_control_characters_on_the_wire() -> None:
    """Messages may hold line breaks and ANSI colours: the wire format accepts them."""
    report = fields.full_report(message="line 1\nline 2\x1b[31m red\u202e")
    assert report["message"] == decode_report(json.dumps(report).encode())[0].message


def test_unsafe_class_matches_unicodedata() -> None:
    """``UNSAFE`` covers every Cc, Cf, Zl and Zp character of this Python's Unicode database
    and nothing printable."""
    wanted = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")}
    matched = {chr(c) for c in range(0x110000) if UNSAFE.match(chr(c))}
    assert (set(), set()) == (wanted - matched, {c for c in matched if c.isprintable()})


def test_helpers_render_controls_visibly() -> None:
    assert "a\\x1b[31m\\u202eb\\x0a" == visible("a\x1b[31m\u202eb\n")
    assert "x \\| y\\x0a\\*\\*b\\*\\* \\[l\\](u) \\<s\\> \\`c\\` \\_i\\_ \\&amp;" == md_cell(
        "x | y\n**b** [l](u) <s> `c` _i_ &amp;")
    assert "a\nb\nc\tdal\\x1b[0m" == normalise_free_text("a\r\nb\u2028c\tda\u200bl\u202e\x1b[0m")


# --- through the real app: 422 naming the field, free text normalised ----------------------------


@pytest.fixture
def client(settings: Any, storage: Any) -> TestClient:
    return TestClient(create_app(settings, storage, now=lambda: NOW))


def _post(client: TestClient, storage: Any, report: dict[str, Any]) -> Any:
    project = storage.project("demo")
    sealed = seal_report(json.dumps(report).encode(), project.keypairs[0].public_key(), project_id="demo",
                         schema_version=1)
    return client.post("/api/v1/projects/demo/reports", content=sealed,
                       headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})


def test_ingest_answers_422_naming_the_field(client: TestClient, storage: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    report = fields.full_report(occurred_hour="2026-05-01T12:00Z", release="1.0\x1b]0;pwned\x07\u202e")
    answer = _post(client, storage, report)
    assert (422, "control_character", "release") == (answer.status_code, answer.json()["error"],
                                                     answer.json()["field"])
    assert "pwned" not in answer.text + caplog.text


def test_ingest_stores_free_text_normalised(client: TestClient, storage: Any) -> None:
    report = fields.full_report(occurred_hour="2026-05-01T12:00Z",
                                message="first\r\nsecond \x1b[31mred\x1b[0m e\u202evil\u200b")
    answer = _post(client, storage, report)
    assert 201 == answer.status_code, answer.text
    message = storage.report_detail("demo", report["report_id"]).report.message
    assert "first\nsecond \\x1b[31mred\\x1b[0m evil" == message


# --- outputs ------------------------------------------------------------------------------------


def test_audit_report_markdown_escapes_database_strings(storage: Any, settings: Any) -> None:
    """A reason with pipes, Markdown, a C1 CSI and a bidi override stays one literal cell
    (the audit trail itself refuses C0 controls, not these)."""
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.governance.audit_report import build_audit_report, render_audit_report

    audit = AuditTrail.for_server_dir(storage.engine, settings.server_dir, now=lambda: NOW)
    access = AccessStore(storage.engine, audit, now=lambda: NOW)
    reason = "ticket | 7 | forged | row |\x9b2J\u202e**bold** <img src=x>"
    audit.record("report.read", actor="dev", project_id="demo", subject="r1",
                 detail={"reason": reason, "fields": ["message"]})
    data = build_audit_report(storage, audit, access, since=NOW.replace(hour=0), until=NOW.replace(hour=23))
    text = render_audit_report(data, "md")
    html = render_audit_report(data, "html")
    [row] = [line for line in text.splitlines() if "ticket" in line]
    assert ("\x9b" in text, "\u202e" in text, "| forged |" in text, "**bold**" in text,
            re.search(r"(?<!\\)<img", text) is not None) == (False,) * 5
    assert "ticket \\| 7 \\| forged \\| row \\|\\x9b2J\\u202e\\*\\*bold\\*\\* \\<img src=x\\>" in row
    assert (
        "\x9b" in html,
        "\u202e" in html,
        "<img" in html,
        "ticket | 7 | forged | row |\\x9b2J\\u202e**bold** &lt;img src=x&gt;" in html,
    ) == (False, False, False, True)


def test_cli_tables_show_markup_and_controls_literally(tmp_path: Path) -> None:
    """Rich markup and controls in a cell are printed as text, not interpreted."""
    import io

    from rich.console import Console

    from crashveil.server.cli.tables import table as plain_table

    table = plain_table("a", "b")
    table.add_row("[bold red]x[/bold red]", "y\x1b[2J\u202e")
    out = io.StringIO()
    Console(file=out, width=200, soft_wrap=True, force_terminal=False).print(table)
    assert (
        "[bold red]x[/bold red]" in out.getvalue(),
        "\x1b" in out.getvalue(),
        "\\x1b[2J\\u202e" in out.getvalue(),
    ) == (True, False, True)


def test_log_safe_escapes_bidi_and_format_characters() -> None:
    from crashveil.server.http.errors import log_safe

    assert "a\\u202eb\\u2066c\\u200b" == log_safe("a\u202eb\u2066c\u200b")
