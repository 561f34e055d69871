"""``multiprocessing`` in real apps (fresh interpreters): a child's crash is reported from the child,
which sends it before it exits; the parent's own behaviour is unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import CANARY_EMAIL, CANARY_NAME, assert_no_canary

PRELUDE = """
import os, sys
import multiprocessing
import crashveil
from crashveil.testing import RecordingTransport

def start_crashveil():
    crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], flush_timeout_s=10,
                   transport=RecordingTransport(directory=os.environ["TEST_SENT"]))
    crashveil.grant("diagnostic")
"""


def sent_reports(directory: Path, opener: Any) -> list[Any]:
    from crashveil.wire.report import report_from_json

    if not directory.is_dir():
        return []
    return [report_from_json(opener(path.read_bytes()))[0] for path in sorted(directory.glob("*-report.sealed"))]


@pytest.fixture
def app(run_app: Any, dsn: str, tmp_path: Path) -> Any:
    def run(body: str) -> Any:
        env = {"TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data"), "TEST_SENT": str(tmp_path / "sent")}
        return run_app(PRELUDE + body, env=env)
    return run


def test_process_target_crash_is_sent_by_the_child(app: Any, tmp_path: Path, opener: Any) -> None:
    """fork: the child inherits the client, reports, flushes; exit code 1 and traceback as before."""
    result = app(f"""
start_crashveil()
def work(customer):
    raise PermissionError("no access for {CANARY_EMAIL}")
if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    child = multiprocessing.Process(target=work, args=({CANARY_NAME!r},))
    child.start(); child.join()
    print("EXIT", child.exitcode)
""")
    assert ("EXIT 1", True) == (result.stdout.strip(), "PermissionError: no access" in result.stderr)
    [report] = sent_reports(tmp_path / "sent", opener)
    assert ("PermissionError", "multiprocessing", "no access for <email>") == (
        report.crash_type, report.mechanism, report.message)
    assert any(frame.function == "work" and frame.in_app for frame in report.stack.frames)
    assert_no_canary(report)


def test_pool_task_crash_is_sent_by_the_worker(app: Any, tmp_path: Path, opener: Any) -> None:
    """A Pool task's exception is reported from the worker; the parent still gets it from ``get()``."""
    result = app(f"""
start_crashveil()
def bill(customer):
    if customer.startswith("Jane"):
        raise ValueError("card declined for {CANARY_EMAIL}")
    return customer
if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    with multiprocessing.Pool(2) as pool:
        results = [pool.apply_async(bill, (name,)) for name in ({CANARY_NAME!r}, "ok")]
        print("OK", results[1].get(30))
        try:
            results[0].get(30)
        except ValueError:
            print("CAUGHT")
""")
    assert "OK ok\nCAUGHT" == result.stdout.strip(), result.stderr
    [report] = sent_reports(tmp_path / "sent", opener)
    assert ("ValueError", "multiprocessing", "card declined for <email>") == (
        report.crash_type, report.mechanism, report.message)
    assert any(frame.function == "bill" and frame.in_app for frame in report.stack.frames)
    assert_no_canary(report)


def test_spawned_child_reports_after_its_own_init(app: Any, tmp_path: Path, opener: Any) -> None:
    """spawn: the child imports the main module, whose ``init()`` installs the integration there."""
    result = app("""
start_crashveil()
def work():
    raise OSError(28, "disk full")
if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    child = multiprocessing.Process(target=work)
    child.start(); child.join()
    print("EXIT", child.exitcode)
""")
    assert "EXIT 1" == result.stdout.strip(), result.stderr
    assert [("OSError", "multiprocessing", "errno:28")] == [
        (r.crash_type, r.mechanism, r.error_code) for r in sent_reports(tmp_path / "sent", opener)]


def test_sys_exit_in_a_child_is_not_a_crash(app: Any, tmp_path: Path, opener: Any) -> None:
    result = app("""
start_crashveil()
def work():
    sys.exit(3)
if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    child = multiprocessing.Process(target=work)
    child.start(); child.join()
    print("EXIT", child.exitcode)
""")
    assert ("EXIT 3", []) == (result.stdout.strip(), sent_reports(tmp_path / "sent", opener))


def test_no_consent_nothing_is_sent(app: Any, tmp_path: Path, opener: Any) -> None:
    result = app("""
crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"],
               transport=RecordingTransport(directory=os.environ["TEST_SENT"]))
def work():
    raise ValueError("x")
if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    child = multiprocessing.Process(target=work)
    child.start(); child.join()
    print("EXIT", child.exitcode)
""")
    queue = tmp_path / "data" / "queue"
    assert ("EXIT 1", [], []) == (result.stdout.strip(), sent_reports(tmp_path / "sent", opener),
                                  list(queue.iterdir()) if queue.is_dir() else [])
