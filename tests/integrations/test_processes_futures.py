"""``concurrent.futures``: an exception nobody retrieved is reported when its future is collected
(or at exit); a retrieved one never is."""

from __future__ import annotations

import concurrent.futures
import gc
from pathlib import Path
from typing import Any

from crashveil.sdk.integrations._base import installed

from .conftest import CANARY_EMAIL, CANARY_NAME, assert_no_canary, wait_for


def charge(customer: str) -> str:
    raise ArithmeticError(f"balance overflow for {CANARY_EMAIL}")


def control(executor: concurrent.futures.Executor, reports: list[Any]) -> None:
    """A future dropped unretrieved (``LookupError``): once it is reported, everything dropped
    before it has been handled too (one reporter thread, in order)."""
    executor.submit(_lookup).exception()  # wait for it to finish...
    future = executor.submit(_lookup)
    concurrent.futures.wait([future])
    del future  # ...and drop one unread
    gc.collect()
    wait_for(lambda: any(r.crash_type == "LookupError" for r in reports), what="the control report")


def _lookup() -> None:
    raise LookupError("control")


def kinds(reports: list[Any]) -> list[tuple[str, str | None]]:
    return [(report.crash_type, report.mechanism) for report in reports]


def test_unretrieved_exception_is_reported_when_the_future_is_collected(sdk: list[Any]) -> None:
    assert "futures" in installed()
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        future = executor.submit(charge, CANARY_NAME)
        concurrent.futures.wait([future])
        del future
        gc.collect()
        [report] = wait_for(lambda: list(sdk), what="the future's report")
    assert ("ArithmeticError", "future", "balance overflow for <email>") == (
        report.crash_type, report.mechanism, report.message)
    assert any(frame.function == "charge" and frame.in_app for frame in report.stack.frames)
    assert_no_canary(report)


def test_retrieved_exceptions_are_not_reported(sdk: list[Any]) -> None:
    """``result()``, ``exception()``, a done callback that reads it, ``map``, reading after shutdown."""
    seen: list[BaseException | None] = []
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        by_result = executor.submit(charge, "a")
        try:
            by_result.result()
        except ArithmeticError:
            pass
        by_exception = executor.submit(charge, "b")
        assert isinstance(by_exception.exception(), ArithmeticError)
        by_callback = executor.submit(charge, "c")
        by_callback.add_done_callback(lambda f: seen.append(f.exception()))
        try:
            list(executor.map(charge, ["d"]))
        except ArithmeticError:
            pass
        after_shutdown = executor.submit(charge, "e")
    assert isinstance(after_shutdown.exception(), ArithmeticError)  # the executor is shut down: still readable
    del by_result, by_exception, by_callback, after_shutdown
    gc.collect()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        control(executor, sdk)
    assert [("LookupError", "future")] == kinds(sdk)


def test_a_timeout_is_not_a_retrieval(sdk: list[Any]) -> None:
    import threading

    release = threading.Event()

    def slow() -> None:
        release.wait(30)
        raise ValueError("late")

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        future = executor.submit(slow)
        try:
            future.result(timeout=0)
        except concurrent.futures.TimeoutError:
            pass
        release.set()
        concurrent.futures.wait([future])
        del future
        gc.collect()
        wait_for(lambda: kinds(sdk) == [("ValueError", "future")], what="the late failure's report")


def test_marked_futures_alive_at_exit_are_reported(run_app: Any, dsn: str, tmp_path: Path, opener: Any) -> None:
    """A module-level future never read: reported at interpreter exit, delivered by the client's flush."""
    result = run_app("""
import os
import concurrent.futures
import crashveil
from crashveil.testing import RecordingTransport
crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], flush_timeout_s=10,
               transport=RecordingTransport(directory=os.environ["TEST_SENT"]))
crashveil.grant("crash")
def fail():
    raise TimeoutError("upstream")
executor = concurrent.futures.ThreadPoolExecutor(1)
kept = executor.submit(fail)
concurrent.futures.wait([kept])
print("DONE")
""", env={"TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data"), "TEST_SENT": str(tmp_path / "sent")})
    from crashveil.wire.report import report_from_json

    sent = [report_from_json(opener(p.read_bytes()))[0] for p in sorted((tmp_path / "sent").glob("*-report.sealed"))]
    assert ("DONE", [("TimeoutError", "future")]) == (result.stdout.strip(), kinds(sent)), result.stderr


def test_disable_restores_the_future_class(sdk: list[Any]) -> None:
    from crashveil.sdk.integrations import disable, enable

    disable("processes")
    try:
        assert "__del__" not in vars(concurrent.futures.Future)
        assert "futures" not in installed()
    finally:
        enable("processes")
    assert "__del__" in vars(concurrent.futures.Future)
