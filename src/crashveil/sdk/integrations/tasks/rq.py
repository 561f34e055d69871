"""RQ: a job that fails for good is reported from the worker, with its function name and retries.

RQ's ``BaseWorker.handle_exception`` runs the worker's exception handlers for every failed
attempt; we wrap it (on the class, so every worker, ``SimpleWorker`` included) and report
before RQ's own handlers run. An attempt RQ will retry (``Retry(max=...)``) is not a crash
yet: only the last failure is reported.

The retry count is RQ's own ``job.number_of_retries`` (retries a job asked for by returning
``rq.Retry``), or 0 for a job enqueued without ``retry=``. A job enqueued with
``retry=Retry(max=N)`` and retried on exceptions is reported without a count: RQ keeps only
the retries *left* in Redis, not ``N``, and we do not write a counter of our own into the
app's Redis.

What is read: the exception, ``job.func_name`` (the dotted name of the job's function) and
the retry count. Never ``job.args``/``job.kwargs``, the result, the job id, the queue
name or the Redis connection.
"""

from __future__ import annotations

from crashveil.sdk.integrations._base import Integration, report
from crashveil.sdk.integrations.tasks.task_context import TaskContext

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RqIntegration", "default_integrations"]


class RqIntegration(Integration):
    """Reports RQ job failures (wraps ``rq.worker.BaseWorker.handle_exception``)."""

    name = "rq"
    framework_module = "rq"

    def __init__(self) -> None:
        self._original: Any = None

    def setup_once(self) -> None:
        from rq.worker import BaseWorker as Worker

        if self._original is not None:
            return
        original = Worker.handle_exception
        integration = self

        def handle_exception(worker: Any, job: Any, *exc_info: Any) -> Any:
            integration.on_failure(job, exc_info)
            return original(worker, job, *exc_info)

        self._original = original
        Worker.handle_exception = handle_exception  # type: ignore[method-assign, assignment]

    def teardown(self) -> None:
        from rq.worker import BaseWorker as Worker

        if self._original is not None:
            Worker.handle_exception = self._original  # type: ignore[method-assign]
            self._original = None

    def on_failure(self, job: Any, exc_info: tuple[Any, ...]) -> None:
        """Report the job's exception if RQ will not retry it."""
        if len(exc_info) != 3 or not isinstance(exc_info[1], BaseException):
            return
        try:
            if job.should_retry:
                return  # RQ enqueues it again: the final failure is the crash
            name = job.func_name
            retries = job.number_of_retries
            if retries is None and job.retry_intervals is None:
                retries = 0  # never set up to retry
        except Exception:  # noqa: BLE001 - a job RQ cannot deserialise: reported without context
            name, retries = None, None
        report(self.name, exc_info[1], mechanism="rq", tb=exc_info[2],
               context=TaskContext(name=name if isinstance(name, str) else None,
                                   retries=retries if isinstance(retries, int) else None).fields())


def default_integrations() -> tuple[RqIntegration]:
    return (RqIntegration(),)
