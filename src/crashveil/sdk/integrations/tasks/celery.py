"""Celery: a task that fails is reported from the worker, with its name and retry count.

Celery catches a task's exception, marks the task failed and sends the ``task_failure``
signal; we connect to that signal (a strong, uniquely named receiver, so a second install
does nothing). Only the final failure is a crash: a retry (``self.retry()``,
``autoretry_for``) sends ``task_retry`` instead, and the failure after the last retry
carries the retry count. With the prefork pool the signal runs in the pool's child, which
inherited the client when it was forked (``crashveil.init()`` in the app module, before the
worker starts); the queue and the sender are fork-aware, so the child writes and sends its
own report.

What is read: the exception and its traceback, ``sender.name`` and
``sender.request.retries``. Never the task's ``args``/``kwargs`` (the signal passes them;
they are not even looked at), its result, its id or the broker URL.
"""

from __future__ import annotations

from crashveil.sdk.integrations._base import Integration, report
from crashveil.sdk.integrations.tasks.task_context import TaskContext

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CeleryIntegration", "default_integrations"]

_DISPATCH_UID = "crashveil-task-failure"


class CeleryIntegration(Integration):
    """Reports Celery task failures (``celery.signals.task_failure``)."""

    name = "celery"
    framework_module = "celery"

    def setup_once(self) -> None:
        from celery import signals

        signals.task_failure.connect(self._on_failure, weak=False, dispatch_uid=_DISPATCH_UID)

    def teardown(self) -> None:
        from celery import signals

        signals.task_failure.disconnect(self._on_failure, dispatch_uid=_DISPATCH_UID)

    def _on_failure(self, sender: Any = None, exception: BaseException | None = None, traceback: Any = None,
                    **_not_read: Any) -> None:
        """The ``task_failure`` receiver. ``_not_read`` holds ``task_id``, ``args``, ``kwargs``
        and ``einfo``: personal data may be in them, so they are never looked at."""
        if exception is None:
            return
        report(self.name, exception, mechanism="celery", tb=traceback,
               context=TaskContext(name=_task_name(sender), retries=_retries(sender)).fields())


def _task_name(task: Any) -> str | None:
    try:
        name = task.name
    except Exception:  # noqa: BLE001 - an odd sender: the crash is still reported, without a name
        return None
    return name if isinstance(name, str) else None


def _retries(task: Any) -> int | None:
    try:
        retries = task.request.retries
    except Exception:  # noqa: BLE001 - no request context: the crash is still reported, without a count
        return None
    return retries if isinstance(retries, int) else None


def default_integrations() -> tuple[CeleryIntegration]:
    return (CeleryIntegration(),)
