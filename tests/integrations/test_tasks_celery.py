"""Celery: a real worker thread on the in-memory broker; failures reported with name and retries.

The worker is Celery's own test worker (``celery.contrib.testing.worker.start_worker``, a
real ``WorkController`` consuming from the broker in a thread, solo pool) on
``memory://`` with ``task_always_eager=False``: the task goes through the broker, the
worker, Celery's tracer and its ``task_failure`` signal exactly as in production (a
prefork pool would run the same signal in a child process).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import celery
import pytest
from celery.contrib.testing.worker import start_worker

from crashveil.sdk.integrations._base import installed

from .conftest import (
    CANARY_ADDRESS,
    CANARY_BROKER_SECRET,
    CANARY_CARD,
    CANARY_EMAIL,
    CANARY_NAME,
    assert_no_canary,
    wait_for,
)


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """The app; Celery's test worker sets the root logger to ERROR and adds a handler to it:
    both are put back after the module (later tests read WARNING records as breadcrumbs)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield _app()
    root.setLevel(level)
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)


def _app() -> Any:
    app = celery.Celery("crashveil_test", broker="memory://", backend="cache+memory://")
    app.conf.update(task_always_eager=False, worker_hijack_root_logger=False, broker_connection_retry_on_startup=False,
                    task_default_queue="crashveil-test")
    app.conf.broker_transport_options = {"note": CANARY_BROKER_SECRET}  # a secret in broker config: never read

    @app.task(name="shop.tasks.send_invoice", bind=True, autoretry_for=(ValueError,),
              retry_kwargs={"max_retries": 2, "countdown": 0}, retry_backoff=False, retry_jitter=False)
    def send_invoice(self: Any, customer: str, *, email: str, card: str) -> str:
        raise ValueError(f"cannot bill {email} with {card}")  # the name stays in the arguments

    @app.task(name="shop.tasks.ok")
    def ok(address: str) -> str:
        return address.upper()

    app.send_invoice = send_invoice
    app.ok = ok
    return app


def test_failed_task_is_reported_with_name_and_retry_count_never_its_arguments(app: Any, sdk: list[Any]) -> None:
    """Two retries, then the failure: one report, mechanism celery, task name and retries 2."""
    assert "celery" in installed()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.ok.delay(CANARY_ADDRESS)
        app.send_invoice.delay(CANARY_NAME, email=CANARY_EMAIL, card=CANARY_CARD)
        [report] = wait_for(lambda: list(sdk), what="the task failure report")
    assert ("ValueError", "celery", "shop.tasks.send_invoice", 2) == (
        report.crash_type, report.mechanism, report.task_name, report.task_retries)
    assert report.message is not None and "<email>" in report.message
    assert any(frame.function == "send_invoice" and frame.in_app for frame in report.stack.frames)
    assert_no_canary(report)


def test_shutdown_removes_the_signal_receiver(app: Any, sdk: list[Any]) -> None:
    """After ``crashveil.shutdown()`` the receiver is gone and a failing task reports nothing."""
    from celery import signals

    import crashveil

    crashveil.shutdown()
    assert ("celery" not in installed(), False) == (
        True, any(uid == "crashveil-task-failure" for (uid, _), _ in signals.task_failure.receivers))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = app.send_invoice.apply_async(("x",), {"email": "e", "card": "c"}, retry=False)
        wait_for(lambda: result.state == "FAILURE", what="the task to fail")
    assert [] == sdk
