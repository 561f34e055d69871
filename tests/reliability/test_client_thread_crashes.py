"""A long-running app whose worker threads crash one after another: every crash is delivered.

Real app process (``crashveil.init`` with consent, the SDK's ``threading.excepthook``), real
server (``test_client_kill.py``'s fixture). Each thread raises its own exception type, so the
SDK's limits (raised in the test policy) and its fingerprint dedupe keep every one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

servers = sys.modules["crashveil_tests_servers"]
kill = servers.load_module("crashveil_tests_client_kill", Path(__file__).with_name("test_client_kill.py"))
app = kill.app  # the fixture: a real server and the test app

pytestmark = pytest.mark.slow

THREADS = """
if SCENARIO == "threads":
    def fail(i):
        raise type(f"ThreadCrash{i}", (LookupError,), {})("boom")

    for i in range(10):
        worker = threading.Thread(target=fail, args=(i,))
        worker.start()
        worker.join()
"""


def test_every_thread_crash_of_a_long_running_app_is_delivered(app: Any) -> None:
    """Ten threads crash one after another, each with its own exception type: ten reports."""
    main = app.root / "app" / "main.py"
    main.write_text(main.read_text() + THREADS)
    code, _, err = app.run("threads")
    code2, out2, _ = app.run("crashes")
    assert (0, 10, "flushed True\n") == (code, err.count("ThreadCrash") // 2, out2.replace("ready\n", ""))
    assert [(f"ThreadCrash{i}", "thread") for i in sorted(range(10), key=str)] == kill._delivered(app)
