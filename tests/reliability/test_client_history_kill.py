"""The user's history (``crashveil.history()``) after the app is killed at the two moments
the SDK writes a report's state in two steps: every report that left the device is listed,
as sent, with its receipt.

Real app process, real server, SIGKILL; the moment is found by freezing the app (SIGSTOP)
at random instants until it is in the window, then killing it there (``_kill_when`` of
``test_client_kill.py``).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

servers = sys.modules["crashveil_tests_servers"]
kill = servers.load_module("crashveil_tests_client_kill", Path(__file__).with_name("test_client_kill.py"))
app = kill.app  # the fixture: a real server and the test app

pytestmark = pytest.mark.slow
BACKLOG = 100


def _history(app: Any) -> dict[str, dict[str, Any]]:
    """The history file as the SDK merges it: item id -> latest line."""
    merged: dict[str, dict[str, Any]] = {}
    try:
        lines = (app.data / "history.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return merged
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        merged[entry["id"]] = entry
    return merged


def _items(app: Any) -> set[str]:
    try:
        return {n[:-4] for n in kill.os.listdir(app.queue_dir) if n.endswith(".cvq") and not n.startswith(".")}
    except FileNotFoundError:
        return set()


def _listed_as_sent(app: Any) -> list[tuple[str, bool]]:
    from crashveil.sdk.consent.history import History

    return sorted((e.state, e.receipt is not None) for e in History(app.data).entries() if e.kind == "report")


def test_report_killed_between_its_queue_file_and_its_history_line_is_listed_once_sent(app: Any) -> None:
    """Killed after a report's queue file is in place but before its history line is written:
    the next start sends it, and the history must list it (sent, with its receipt)."""
    rng = random.Random(1)
    proc = app.start("crashes", crashes=300, tag="W")
    kill._wait_ready(proc)
    caught = kill._kill_when(proc, lambda pid: bool(_items(app) - set(_history(app))), rng, 20.0)
    proc.communicate(timeout=30)
    unlisted = len(_items(app) - set(_history(app)))
    code, out, _ = app.run("crashes")
    stored = kill._stored(app)
    assert (True, 1, 0) == (caught, unlisted, code)
    assert [("sent", True)] * len(stored) == _listed_as_sent(app)


def _out_of_step(app: Any) -> bool:
    """A delivered report's two records disagree: its history still says "queued" though it
    left the queue, or its history says "sent" though it is still queued. Whichever the
    sender writes first, a kill between the two writes lands here."""
    items = _items(app)
    return any((e["state"] == "queued") != (i in items) for i, e in _history(app).items())


def test_report_killed_between_its_removal_and_its_history_update_is_listed_as_sent(app: Any) -> None:
    """Killed between the sender's two records of a delivered report (its removal from the
    queue, "sent" in the history): the history must not say "queued" (without a receipt)
    forever, and a report still queued though listed as sent is delivered once."""
    app.server.stop()
    # Offline: a backlog, listed as queued. Sent at >= 100 ms a report: a run of ~10 s, room to
    # catch the short moment between the two records of one report (an fsync, an unlink; on
    # this suite's disk it is caught within the first few reports).
    app.run("crashes", crashes=BACKLOG, tag="R", flush_s=0.3)
    app.server.start()
    rng = random.Random(2)
    proc = app.start("crashes")
    kill._wait_ready(proc)
    caught = kill._kill_when(proc, lambda pid: _out_of_step(app), rng, 20.0)
    proc.communicate(timeout=30)
    code, out, _ = app.run("crashes")
    assert (True, 0, BACKLOG) == (caught, code, len(kill._stored(app)))
    assert [("sent", True)] * BACKLOG == _listed_as_sent(app)
