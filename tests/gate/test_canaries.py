"""The canary half of the pytest plugin: planted values are found in reports and files, by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from crashveil.gate.pytest_plugin import Canaries, find_leaks


@pytest.fixture
def planted(tmp_path: Path) -> Canaries:
    """Canaries without an environment (the unit tests plant by hand)."""
    return Canaries("tests/gate/test_canaries.py::unit", tmp_path)


def _report(**fields: Any) -> dict[str, Any]:
    """A report as JSON data with harmless defaults."""
    base: dict[str, Any] = {"schema_version": 1, "crash_type": "ValueError",
                            "stack": {"frames": [{"file": "notes/app.py", "function": "main", "line": 3}]}}
    base.update(fields)
    return base


def _where(leaks: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(leak.kind, leak.where, leak.field, leak.placeholder) for leak in leaks]


def test_canary_in_exception_message(planted: Canaries) -> None:
    """An e-mail address in the message is found, with the field and the expected placeholder."""
    leaks = planted.find_leaks(_report(message=f"cannot mail {planted.email}"))
    assert [("email", "report[0]", "message", "<email>")] == _where(leaks)


def test_canary_in_path(planted: Canaries) -> None:
    """A home path in a frame's file leaks both the path and the user name in it."""
    frame = {"file": str(planted.home / "notes" / "app.py"), "function": "main", "line": 3}
    leaks = planted.find_leaks(_report(stack={"frames": [frame]}))
    assert [("home_path", "report[0]", "stack.frames[0].file", "<user>"),
            ("user_name", "report[0]", "stack.frames[0].file", "<user>")] == _where(leaks)


def test_canary_from_environment_variable(planted: Canaries, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token planted in an environment variable is found when the app copies it into a breadcrumb."""
    canaries = Canaries("env", planted.home.parent, monkeypatch.setenv)
    token = canaries.setenv("NOTES_SYNC_TOKEN", "token")
    import os

    leaks = canaries.find_leaks(_report(breadcrumbs=[{"message": f"sync with {os.environ['NOTES_SYNC_TOKEN']}"}]))
    assert ({"NOTES_SYNC_TOKEN": token}, [("token", "report[0]", "breadcrumbs[0].message", "<secret>")]) == (
        canaries.env, _where(leaks))


def test_canary_in_chained_exception(planted: Canaries) -> None:
    """User input in a chained exception's message is found at its chain index."""
    chain = [{"relation": "cause", "crash_type": "KeyError", "message": planted.user_input}]
    leaks = planted.find_leaks(_report(chain=chain))
    assert [("user_input", "report[0]", "chain[0].message", "<input>")] == _where(leaks)


@pytest.mark.parametrize(
    ("encode", "form"),
    [
        (str.lower, "lower-case"),
        (lambda value: quote(value, safe=""), "URL-encoded"),
    ],
)
def test_simple_encodings_are_found(planted: Canaries, encode: Any, form: str) -> None:
    """A planted value written lower-case or URL-encoded still counts as a leak."""
    leaks = planted.find_leaks(_report(message=f"x {encode(planted.email)} y"))
    assert [("email", form)] == [(leak.kind, leak.form) for leak in leaks]


def test_user_name_alone_and_grouped_card_number(planted: Canaries) -> None:
    """The user name without its path and a card number in groups of four are found."""
    grouped = " ".join(planted.card_number[i:i + 4] for i in range(0, 16, 4))
    leaks = planted.find_leaks(_report(message=f"for {planted.user_name}: {grouped}"))
    assert [("user_name", "as planted"), ("card_number", "grouped")] == [(leak.kind, leak.form) for leak in leaks]


def test_queue_bytes_are_scanned(planted: Canaries) -> None:
    """Bytes written on the device (a queue file) are scanned too, UTF-16 included."""
    files = {"queue/1.item": b"\x00\x01" + planted.token.encode("utf-16-le"), "consent.json": b"{}"}
    leaks = planted.find_leaks(files=files)
    assert [("token", "queue/1.item", "byte 2", "as planted, UTF-16")] == [
        (leak.kind, leak.where, leak.field, leak.form) for leak in leaks]


def test_clean_report_has_no_leaks(planted: Canaries) -> None:
    """A report whose strings were redacted carries no canary."""
    report = _report(message="cannot mail <email> about '<input>' in <user>/notes.txt")
    planted.assert_no_leaks(report, json.dumps(report))


def test_assertion_names_field_and_placeholder(planted: Canaries) -> None:
    """The assertion error names the report, the field path and the placeholder expected there."""
    with pytest.raises(AssertionError) as caught:
        planted.assert_no_leaks([_report(message=planted.text)])
    text = str(caught.value)
    assert "report[0] field message: planted card_number leaks (as planted); expected the placeholder " \
           "<card> there" in text
    assert "6 planted value(s) would leave the device" == text.splitlines()[0].rstrip(":")


def test_placeholders_come_from_the_policy(planted: Canaries) -> None:
    """A placeholder configured in the policy's redaction settings is the one named."""
    leaks = find_leaks({"email": planted.email}, [_report(message=planted.email)], placeholders={"email": "<mail>"})
    assert ["<mail>"] == [leak.placeholder for leak in leaks]


def test_canary_values_are_unique_and_valid(tmp_path: Path) -> None:
    """Two tests get different canaries; the card number passes the Luhn check; home is a real directory."""
    one, two = Canaries("a", tmp_path), Canaries("b", tmp_path)
    digits = [int(c) for c in reversed(one.card_number)]
    luhn = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    assert (True, 0, 16, True) == (set(one.values.values()).isdisjoint(two.values.values()), luhn % 10,
                                   len(one.card_number), one.home.is_dir())
