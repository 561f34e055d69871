"""The notes commands, with crash reporting started but no consent given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from notes_app import store

import crashveil


def test_add_then_show(notes: Callable[..., str]) -> None:
    """A note written with ``add`` is printed back by ``show``."""
    notes("add", "Groceries", "eggs and milk", "--tag", "home")
    assert "# Groceries\n\neggs and milk\n" == notes("show", "Groceries")


def test_list_titles(notes: Callable[..., str]) -> None:
    """``list`` prints the titles in order."""
    notes("add", "b note")
    notes("add", "A note")
    assert "A note\nb note\n" == notes("list")


def test_notes_live_under_home(notes: Callable[..., str], home: Path) -> None:
    """Notes are files under ``~/.local/share/notes``."""
    notes("add", "Plans")
    assert [home / ".local/share/notes/plans.note"] == list((home / ".local/share/notes").iterdir())


def test_stats_of_an_empty_note_is_the_known_bug(notes: Callable[..., str]) -> None:
    """``stats`` of an empty note crashes (the bug crash reports exist to find)."""
    notes("add", "Empty")
    with pytest.raises(ZeroDivisionError):
        notes("stats", "Empty")


def test_no_consent_no_report(notes: Callable[..., str], home: Path) -> None:
    """Without consent the app behaves as without crashveil: level off, nothing on disk."""
    with pytest.raises(store.NoteNotFound):
        notes("show", "missing")
    assert "off" == crashveil.level()
