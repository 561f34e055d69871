"""The local history of what was queued and sent, and ``crashveil client show/clear``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crashveil.sdk.consent.history import History


def test_latest_state_wins(tmp_path: Path) -> None:
    """An item's later state replaces its earlier one; order is by time."""
    history = History(tmp_path, now=lambda: 10.0)
    history.record("a", kind="report", crash_type="ValueError", level="crash", state="queued")
    history.update("a", state="sent", receipt="r1")
    assert [("a", "sent", "r1", 10.0)] == [(e.id, e.state, e.receipt, e.time) for e in history.entries()]


def test_content_is_not_kept_unless_enabled(tmp_path: Path) -> None:
    """Report text is dropped from the history unless the app enabled keeping it."""
    History(tmp_path).record("a", kind="report", crash_type="E", level="crash", state="queued", content="{...}")
    History(tmp_path / "k", keep_content=True).record("b", kind="report", crash_type="E", level="crash",
                                                      state="queued", content="{...}")
    assert (None, "{...}") == (History(tmp_path).entries()[0].content, History(tmp_path / "k").entries()[0].content)


def test_torn_line_is_skipped(tmp_path: Path) -> None:
    """A half-written last line (crash while writing) does not break reading."""
    history = History(tmp_path)
    history.record("a", kind="report", crash_type="E", level="crash", state="queued")
    with open(tmp_path / "history.jsonl", "a") as handle:
        handle.write('{"id": "b", "ti')
    assert ["a"] == [e.id for e in history.entries()]


def test_client_show_and_clear(tmp_path: Path) -> None:
    """``crashveil client show`` lists entries; ``client clear`` empties the history."""
    History(tmp_path, now=lambda: 0.0).record("a", kind="report", crash_type="KeyError", level="crash",
                                              state="sent", receipt="rcpt-1")
    show = [sys.executable, "-m", "crashveil", "client", "show", "--data-dir", str(tmp_path)]
    out = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    assert ["1970-01-01", "00:00", "report", "KeyError", "crash", "sent", "rcpt-1"] == out.splitlines()[1].split()
    subprocess.run([sys.executable, "-m", "crashveil", "client", "clear", "--data-dir", str(tmp_path)], check=True,
                   capture_output=True)
    out = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    assert "No crash reports were queued or sent from this device." == out.strip()


def test_settle_records_an_item_the_history_lacks_from_its_queue_meta(tmp_path: Path) -> None:
    """Killed between the queue file and the history line: the delivery is recorded from the
    item's queue meta (no content: the queue holds it only sealed)."""
    history = History(tmp_path, keep_content=True, now=lambda: 50.0)
    history.record("a", kind="report", crash_type="E", level="crash", state="queued", content="{a}")
    history.settle("a", state="sent", receipt="r-a", kind="report", crash_type="E", level="crash", at=7.0)
    history.settle("b", state="sent", receipt="r-b", kind="report", crash_type="KeyError", level="diagnostic",
                   at=9.0)
    history.settle("c", state="rejected", receipt=None, kind="deletion", crash_type="", level="off", at=60.0)
    assert [("b", 9.0, "KeyError", "diagnostic", "sent", "r-b", None), ("a", 50.0, "E", "crash", "sent", "r-a", "{a}"),
            ("c", 60.0, "", "off", "rejected", None, None)] == [
        (e.id, e.time, e.crash_type, e.level, e.state, e.receipt, e.content) for e in history.entries()]


def test_a_queued_line_after_the_delivery_does_not_undo_it(tmp_path: Path) -> None:
    """The sender delivered an item and settled it before the capture wrote its "queued" line:
    the item stays sent, with its receipt, and gains the line's content."""
    history = History(tmp_path, keep_content=True, now=lambda: 10.0)
    history.settle("a", state="sent", receipt="r-a", kind="report", crash_type="E", level="crash", at=9.0)
    history.record("a", kind="report", crash_type="E", level="crash", state="queued", content="{a}")
    history.record("p", kind="pending", crash_type="E", level="crash", state="pending")
    history.update("p", state="discarded")
    history.record("p", kind="pending", crash_type="E", level="crash", state="pending")
    assert [("a", "sent", "r-a", "{a}"), ("p", "discarded", None, None)] == [
        (e.id, e.state, e.receipt, e.content) for e in history.entries()]
