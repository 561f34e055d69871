"""Ready-made prompts: the terminal one with scripted answers, the Tk one on Xvfb with xdotool."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashveil.sdk.options import FALLBACK_APP_NAME
from crashveil.sdk.prompts import ask_in_terminal, review_pending_in_terminal


def answers(*values: str) -> Any:
    items = iter(values)
    return lambda prompt: next(items)


def test_terminal_grant(make_client: Any) -> None:
    """Choosing a number grants that level."""
    client = make_client()
    out = io.StringIO()
    assert ("crash", "crash") == (ask_in_terminal(client, input=answers("p", "1"), output=out), client.level())
    assert '"consent_level": "diagnostic"' in out.getvalue()


def test_terminal_no_answer_records_nothing(make_client: Any, tmp_path: Path) -> None:
    """Enter without a choice records no decision and writes no file."""
    client = make_client()
    assert (None, True, False) == (ask_in_terminal(client, input=answers(""), output=io.StringIO()),
                                   client.needs_prompt(), (tmp_path / "data").exists())


def test_terminal_ask_each_time_and_review(make_client: Any) -> None:
    """"Ask me each time" keeps crashes until reviewed; the review sends with a redacted comment."""
    client = make_client()
    ask_in_terminal(client, input=answers("a"), output=io.StringIO())
    try:
        raise KeyError("k")
    except KeyError as exc:
        client.capture_exception(exc)
    assert 1 == len(client.pending())
    sent = review_pending_in_terminal(client, input=answers("y", "write to me@example.org"), output=io.StringIO())
    assert client.flush(5.0) is True
    [payload] = client.transport_for_test.payloads()
    assert (1, [], False) == (sent, client.pending(), b"me@example.org" in payload)


def test_terminal_prompt_names_the_app(make_client: Any) -> None:
    """``init(app_name=...)`` names the app in the prompt and its notice (the shipped policy says
    "this application"); the fallback name of an unnamed program is not shown."""
    named, unnamed = io.StringIO(), io.StringIO()
    ask_in_terminal(make_client(app_name="Photo Editor"), input=answers(""), output=named)
    ask_in_terminal(make_client(app_name=FALLBACK_APP_NAME), input=answers(""), output=unnamed)
    assert named.getvalue().startswith("Photo Editor can send a report to the developers of Photo Editor when")
    assert unnamed.getvalue().startswith("This application can send a report to the developers of this application")


def test_policy_notice_name_wins(make_client: Any, tmp_path: Path) -> None:
    """A policy whose notice names the app keeps its reviewed wording."""
    from crashveil.policy import default_policy_path

    text = default_policy_path().read_text(encoding="utf-8").replace(
        'app_name = "this application"', 'app_name = "Acme Mail"', 1)
    policy = tmp_path / "acme.policy.toml"
    policy.write_text(text, encoding="utf-8")
    out = io.StringIO()
    ask_in_terminal(make_client(app_name="acme-mail", policy=str(policy)), input=answers(""), output=out)
    assert out.getvalue().startswith("Acme Mail can send a report to the developers of this application")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb display; skips only when tkinter (or Xvfb/xdotool) is missing."""
    pytest.importorskip("tkinter")
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        pytest.skip("needs Xvfb and xdotool (apt-get install -y xvfb xdotool)")
    number = 90 + os.getpid() % 500
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


DIALOG_APP = """
import os, sys, tkinter
from pathlib import Path
import crashveil
from crashveil.testing import RecordingTransport
from crashveil.sdk import prompts

# Tell the test when the dialog takes keys: its window is mapped and holds the focus (the
# dialog's own after(50, ...) takes it), so its key bindings are in place.
def _signal_ready(root):
    if root.winfo_viewable() and root.focus_get() is not None:
        Path(os.environ["TEST_READY"]).write_text("ready")
    else:
        root.after(20, _signal_ready, root)

_mainloop = tkinter.Misc.mainloop
def mainloop(self, n=0):
    self.after(0, _signal_ready, self)
    _mainloop(self, n)
tkinter.Misc.mainloop = mainloop

crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], transport=RecordingTransport(status=503))
if os.environ.get("REVIEW"):
    print("SENT", prompts.review_pending_with_dialog())
    q = crashveil._current().queue(create=False)
    print("KINDS", [i.meta.kind for i in q.items()])
else:
    print("LEVEL", prompts.ask_with_dialog())
    print("EACH", crashveil._current().consent.ask_each_time())
    if os.environ.get("CRASH"):
        try:
            raise KeyError("k")
        except KeyError as exc:
            crashveil.capture_exception(exc)
"""


def drive(display: str, title: str, *keys: str, typed: str = "") -> None:
    """Focus the dialog's window and send it ``typed`` and ``keys`` (the X server delivers them
    in order, so no pause is needed between them)."""
    env = {**os.environ, "DISPLAY": display}
    window = subprocess.run(["xdotool", "search", "--sync", "--name", title], env=env, capture_output=True,
                            text=True, timeout=30).stdout.split()[0]
    subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=10)
    if typed:
        subprocess.run(["xdotool", "type", "--delay", "20", typed], env=env, check=True, timeout=30)
    for key in keys:
        subprocess.run(["xdotool", "key", key], env=env, check=True, timeout=10)


def run_dialog(run_app_env: dict[str, str], tmp_path: Path, wait_for: Any, *keys: str, typed: str = "",
               title: str) -> str:
    """Run the dialog app, and once its dialog takes keys (it writes ``TEST_READY``) drive it."""
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "dialog.py").write_text(DIALOG_APP)
    ready = tmp_path / "dialog-ready"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, str(app / "dialog.py")], env={**run_app_env, "TEST_READY": str(ready)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: ready.exists() or process.poll() is not None, 60), "the dialog did not open"
        assert process.poll() is None, process.communicate(timeout=30)[1]
        drive(run_app_env["DISPLAY"], title, *keys, typed=typed)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert 0 == process.returncode, err
    return out


def test_tk_dialog_grants_the_chosen_level(display: str, dsn: str, tmp_path: Path, wait_for: Any) -> None:
    """Pressing 2 then Return in the dialog grants level ``diagnostic``."""
    env = {**os.environ, "DISPLAY": display, "TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data")}
    out = run_dialog({**env, "CRASHVEIL_APP_NAME": "Photo Editor"}, tmp_path, wait_for, "2", "Return",
                     title="^Crash reports: Photo Editor$")
    assert ["LEVEL diagnostic", "EACH False"] == out.split("\n")[:2]


def test_tk_ask_each_time_then_review_with_comment(display: str, dsn: str, tmp_path: Path, opener: Any,
                                                   wait_for: Any) -> None:
    """"Ask me each time" keeps the crash; at the next start the review dialog sends it with a comment."""
    env = {**os.environ, "DISPLAY": display, "TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data")}
    out = run_dialog({**env, "CRASH": "1"}, tmp_path, wait_for, "1", "a", "Return", title="Crash reports")
    assert ["LEVEL crash", "EACH True"] == out.split("\n")[:2]
    out = run_dialog({**env, "REVIEW": "1"}, tmp_path, wait_for, "ctrl+Return", typed="mail me at zed@example.org",
                     title="Send this crash report")
    assert ["SENT 1", "KINDS ['report']"] == out.split("\n")[:2]
    from crashveil.sdk.delivery.queue import SealedQueue

    queue = SealedQueue(tmp_path / "data" / "queue", max_reports=10, max_bytes=10**6, max_age_days=30)
    [item] = queue.items()
    payload = opener(queue.read(item))
    assert (False, True) == (b"zed@example.org" in payload, b'"comment"' in payload)
