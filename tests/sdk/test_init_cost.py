"""What ``import crashveil`` and ``init()`` load, with consent off and with consent given.

``init()`` runs at every start of every app that uses crashveil (target: import + init <=
20 ms, ``bench/import_time.py``). These tests pin *what* it loads, in a fresh interpreter,
since the time itself is too noisy to assert on: with consent given (by ``grant()`` now or
in an earlier run) it builds no policy model, no redactor, no queue, no sender, and imports
neither ``typing`` nor ``dataclasses``. The work is deferred, not skipped: the first crash
builds what it needs (tested here too), and a queue or fault file left by the last run is
handled at start as before.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: Never loaded by ``init()`` + ``grant()`` with the shipped policy and no DSN.
NOT_AT_INIT = (
    "typing", "dataclasses", "inspect", "random", "hashlib", "logging", "tomllib", "importlib.resources",
    "contextlib", "crashveil.policy.model", "crashveil.policy.loader", "crashveil.policy.digest",
    "crashveil.wire.report", "crashveil.wire.canonical", "crashveil.redact", "crashveil.redact.detectors",
    "crashveil.sdk.collect",
    "crashveil.sdk.delivery", "crashveil.sdk.delivery.queue", "crashveil.sdk.delivery.sender",
    "crashveil.sdk.delivery.files", "crashveil.sdk.delivery.limits", "crashveil.sdk.delivery.seal",
    "crashveil.sdk.transport", "crashveil.sdk.remote", "crashveil.sdk.remote.config", "crashveil.sdk.consent.history",
    "crashveil.sdk._records",
    "cryptography", "ssl", "http.client", "asyncio", "sqlite3", "json.tool", "click",
)

_PROBE = """
import json, sys
before = set(sys.modules)
exec(compile(sys.argv[2], "<probe>", "exec"))
added = sorted(set(sys.modules) - before)
print(json.dumps({"added": added, "level": crashveil.level(), "needs_prompt": crashveil.needs_prompt()}))
"""


def probe(data: Path, statement: str) -> dict[str, Any]:
    """Run ``statement`` (``DATA`` is the data dir) in a fresh interpreter; what it loaded."""
    code = f"DATA = {str(data)!r}\n{statement}"
    out = subprocess.run([sys.executable, "-c", _PROBE, str(data), code], capture_output=True, text=True,
                         check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def heavy(added: list[str]) -> list[str]:
    return [name for name in added if name in NOT_AT_INIT or name.startswith(("cryptography.", "http.", "asyncio."))]


INIT = "import crashveil\ncrashveil.init(app_name='probe', data_dir=DATA, release='1.0')"


def test_import_loads_neither_typing_nor_threading(tmp_path: Path) -> None:
    """``import crashveil`` alone adds only the facade (and ``__future__``)."""
    result = probe(tmp_path, "import crashveil")
    assert ["__future__", "crashveil"] == [name for name in result["added"] if name not in ("_thread",)]


def test_init_and_grant_build_no_policy_model(tmp_path: Path) -> None:
    """``init()`` + ``grant()``: the consent is recorded from the shipped policy's facts alone."""
    result = probe(tmp_path, INIT + "\ncrashveil.grant('crash')")
    assert ("crash", False, []) == (result["level"], result["needs_prompt"], heavy(result["added"]))
    from crashveil.policy import default_policy, policy_digest

    record = json.loads((tmp_path / "consent.json").read_text())
    assert ("crash", "1.2.0", policy_digest(default_policy())) == (
        record["level"], record["policy_version"], record["policy_digest"])


@pytest.mark.parametrize("level", ["crash", "diagnostic"])
def test_init_after_an_earlier_grant_builds_no_policy_model(tmp_path: Path, level: str) -> None:
    """The next start (consent given earlier, an emptied queue directory left) loads nothing heavy."""
    probe(tmp_path, INIT + f"\ncrashveil.grant({level!r})\ncrashveil.shutdown()")
    (tmp_path / "queue").mkdir(mode=0o700)  # what a run that sent everything leaves behind
    result = probe(tmp_path, INIT)
    assert (level, False, []) == (result["level"], result["needs_prompt"], heavy(result["added"]))
    assert [] == [p.name for p in (tmp_path / "native").iterdir() if p.stat().st_size]  # watching, no fault


def test_init_with_a_dsn_loads_no_cryptography(tmp_path: Path) -> None:
    """With a DSN (checked, keys parsed, at init) still no crypto, network, policy model or dataclasses.

    The remote config is fetched on a thread of its own, which this probe does not start
    (what that thread loads would race with the listing).
    """
    key = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
    dsn = f"crashveil://127.0.0.1:9/probe?key=x25519:{key}&sign=ed25519:{key}&ca=YWJj"
    statement = ("import crashveil\nfrom crashveil.sdk.client import Client\n"
                 "Client.refresh_remote_config = lambda self: None\n"
                 f"crashveil.init(app_name='probe', data_dir=DATA, release='1.0', dsn={dsn!r})")
    probe(tmp_path, statement + "\ncrashveil.grant('crash')\ncrashveil.shutdown()")
    result = probe(tmp_path, statement)
    assert ("crash", []) == (result["level"], heavy(result["added"]) + [
        name for name in result["added"] if name in ("crashveil.wire.protocol", "crashveil.sdk.delivery.seal")])


def test_first_crash_after_a_cheap_init_builds_the_report(tmp_path: Path) -> None:
    """The deferred work happens at the first crash: the report is built, redacted and recorded."""
    code = (INIT + "\ncrashveil.grant('diagnostic')\n"
            "from crashveil.testing import captured_reports\n"
            "with captured_reports() as reports:\n"
            "    crashveil.add_breadcrumb('opened mail of bob@example.com')\n"
            "    try:\n"
            "        raise ValueError('mail alice@example.com')\n"
            "    except ValueError as exc:\n"
            "        crashveil.capture_exception(exc)\n"
            "print(json.dumps([reports[0].consent_level, reports[0].message, reports[0].breadcrumbs[0].message]))\n")
    out = subprocess.run([sys.executable, "-c", "import json, sys\nDATA = sys.argv[1]\n" + code, str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    level, message, crumb = json.loads(out.strip().splitlines()[-1])
    assert ("diagnostic", False, False) == (level, "alice@example.com" in message, "bob@example.com" in crumb)


def _error() -> KeyError:
    try:
        raise KeyError("x")
    except KeyError as exc:
        return exc


def test_start_delivers_what_the_last_run_left(make_client: Any) -> None:
    """A queued report of an earlier run is sent at the next start (the queue is opened: it has files)."""
    first = make_client()
    first.grant("crash")
    first.close()  # as at exit: what is captured now stays queued for the next start
    assert first.capture_exception(_error()) is not None
    second = make_client()
    second.start()
    assert (True, ["report"]) == (second.flush(5.0), [item.kind for item in second.transport_for_test.sent])


def test_start_with_consent_withdrawn_keeps_only_deletion_requests(make_client: Any) -> None:
    """At a start with consent off, a report left in the queue is removed, as before."""
    from crashveil.sdk.consent.store import ConsentStore

    first = make_client()
    first.grant("crash")
    first.close()
    assert first.capture_exception(_error()) is not None
    ConsentStore(first.data_dir, first.policy).grant("off")  # another process said no meanwhile
    second = make_client()
    second.start()
    assert ([], []) == ([p.name for p in (first.data_dir / "queue").glob("*.cvq")], second.transport_for_test.sent)


def test_queue_check_sees_items_and_torn_writes(tmp_path: Path, make_client: Any) -> None:
    """``start()`` skips the queue only when its directory holds neither items nor temp files."""
    client = make_client()
    queue = client.data_dir / "queue"
    assert False is client._queue_has_files()  # no directory
    queue.mkdir(parents=True)
    (queue / "dropped.log").write_text("corrupt 1\n")
    (queue / ".lock").write_bytes(b"")
    assert False is client._queue_has_files()
    (queue / ".tmp-00000000000000001-1-0-dead.cvq").write_bytes(b"torn")
    assert True is client._queue_has_files()
    (queue / ".tmp-00000000000000001-1-0-dead.cvq").unlink()
    (queue / "00000000000000001-1-0-dead.cvq").write_bytes(b"item")
    assert True is client._queue_has_files()
