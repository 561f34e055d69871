"""Fixtures of the notes tests; the crashveil fixtures come from crashveil's pytest plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from notes_app.cli import main

import crashveil


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home directory for the app."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def notes(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., str]]:
    """Run ``notes ARGS...`` in-process; returns what it printed."""

    def run(*args: str) -> str:
        assert 0 == main(list(args))
        return capsys.readouterr().out

    yield run
    crashveil.shutdown()
