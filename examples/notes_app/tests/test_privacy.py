"""Canary tests: planted personal data must not leave the device in a crash report.

Run with ``pytest --crashveil-canaries``. Each test gets ``canaries`` (planted into ``HOME``,
``USER`` and the inputs below) and ``crashveil_capture`` (``notes`` records its reports at
the richest consent level instead of sending them); the plugin fails the test, naming the
field and the placeholder, if any planted value is in a report or in a file crashveil wrote.
"""

from __future__ import annotations

import pytest
from notes_app import store
from notes_app.cli import ShareError, SyncError, main

from crashveil.gate.pytest_plugin import Canaries, CrashveilCapture

pytestmark = pytest.mark.crashveil_canaries


def _crash_types(capture: CrashveilCapture) -> list[str]:
    return [report.crash_type for report in capture.reports]


def test_missing_note_titled_with_user_input(canaries: Canaries, crashveil_capture: CrashveilCapture) -> None:
    """A missing note's title (typed text) and its path under the home directory stay on the device."""
    exc = crashveil_capture.crash(main, ["show", canaries.user_input])
    assert (store.NoteNotFound, 1) == (type(exc), len(crashveil_capture.reports))
    canaries.assert_no_leaks(crashveil_capture)


def test_damaged_note_reports_a_chain(canaries: Canaries, crashveil_capture: CrashveilCapture) -> None:
    """A damaged note file (its header holds an e-mail address) gives a chained crash without it."""
    main(["add", "Contacts", "x"])
    path = store.path_of("Contacts")
    path.write_text(f"title: Contacts\n{canaries.email} {canaries.card_number}\n\nx", encoding="utf-8")
    exc = crashveil_capture.crash(main, ["show", "Contacts"])
    assert (store.NoteDamaged, ValueError) == (type(exc), type(exc.__cause__))
    assert [1] == [len(report.chain or ()) for report in crashveil_capture.reports]


def test_share_with_an_email_address(canaries: Canaries, crashveil_capture: CrashveilCapture) -> None:
    """Sharing a note with an address fails without the address or the title in the report."""
    main(["add", canaries.user_input, "body"])
    exc = crashveil_capture.crash(main, ["share", canaries.user_input, "--to", canaries.email])
    assert type(exc) is ShareError


def test_sync_token_from_the_environment(canaries: Canaries, crashveil_capture: CrashveilCapture) -> None:
    """The sync token planted in ``NOTES_SYNC_TOKEN`` reaches the error but not the report."""
    canaries.setenv("NOTES_SYNC_TOKEN", "token")
    exc = crashveil_capture.crash(main, ["sync"])
    assert (SyncError, 1) == (type(exc), len(crashveil_capture.reports))


def test_empty_note_bug(canaries: Canaries, crashveil_capture: CrashveilCapture) -> None:
    """The known bug is reported, with the crash type and code location the developers need."""
    main(["add", "Empty"])
    exc = crashveil_capture.crash(main, ["stats", "Empty"])
    assert (ZeroDivisionError, ["ZeroDivisionError"]) == (type(exc), _crash_types(crashveil_capture))
