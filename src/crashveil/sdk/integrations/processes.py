"""Child processes and futures: crashes that ``multiprocessing`` and ``concurrent.futures`` keep.

``multiprocessing`` (:class:`MultiprocessingIntegration`). A child process that raises in
its ``Process`` target prints the traceback and exits with code 1; a ``Pool`` worker sends a
task's exception back to the parent, where it may be caught or dropped. Neither reaches the
hooks. The report is made in the child, where the real stack is: ``BaseProcess._bootstrap``
(which runs only in the child) wraps the process's ``run``, and in a pool worker
``multiprocessing.pool.ExceptionWithTraceback`` (made exactly once per failed task, in the
worker) reports first. The child then flushes (bounded by ``flush_timeout_s``) before it
goes on: a child leaves through ``os._exit``, so ``atexit`` never runs there. With ``fork``
(Linux before 3.14) the child inherits the client; with ``spawn`` or ``forkserver`` the
child must call ``crashveil.init()`` itself (at import of the main module, or in a pool
``initializer``), and it then installs this integration, as ``multiprocessing`` is imported.
``SystemExit`` in a child is an exit, not a crash. A pool task's exception that the parent
re-raises uncaught is reported there too (a second report, with the parent's stack).

``concurrent.futures`` (:class:`FuturesIntegration`): a ``Future`` whose exception nobody
retrieved. An executor stores a task's exception on its future and says nothing; if the
app never calls ``result()`` or ``exception()`` the crash is silent. Like asyncio's "Task
exception was never retrieved", the report is made when no one can retrieve it any more:

- ``set_exception`` marks the future *before* it runs the done callbacks (a callback that
  calls ``result()`` or ``exception()`` clears the mark);
- ``result()`` and ``exception()`` clear the mark once the future is done (a timeout does not);
- the future's finaliser (``__del__``, added to the class) reports a marked future when it
  is garbage-collected;
- at interpreter exit, marked futures still alive are reported (nobody can retrieve them now).

Not at ``Executor.shutdown()``: ``with ThreadPoolExecutor() as ex: futures = [...]``
followed by reading the results after the block is common, and the futures are still
retrievable then; a future dropped by the executor at shutdown is collected, and reported,
then. A finaliser may run in any thread, inside any code (a garbage collection can start
anywhere, even inside the SDK holding a lock), so it never captures itself: it puts the
exception on a ``queue.SimpleQueue`` (whose ``put`` is safe there) and a daemon thread,
started with the first marked future, reports it.
"""

from __future__ import annotations

import os
import sys

from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.integrations._base import Integration, report

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    import queue
    import threading
    import weakref
    from concurrent.futures import Future
    from typing import Any

__all__ = ["MultiprocessingIntegration", "FuturesIntegration", "default_integrations"]

#: Attribute set on a ``Future`` whose exception nobody has retrieved yet.
UNRETRIEVED = "_crashveil_unretrieved"


def _flush_child() -> None:
    """Send what this child queued before it exits (bounded: ``flush_timeout_s``)."""
    import crashveil

    crashveil.flush()


class MultiprocessingIntegration(Integration):
    """Reports exceptions of ``Process`` targets and ``Pool`` tasks from the child process."""

    name = "multiprocessing"
    framework_module = "multiprocessing"

    def __init__(self) -> None:
        self._original: Any = None

    def setup_once(self) -> None:
        from multiprocessing.process import BaseProcess

        if self._original is not None:
            return
        original = BaseProcess._bootstrap  # type: ignore[attr-defined]
        integration = self

        def _bootstrap(process: Any, *args: Any, **kwargs: Any) -> Any:
            integration.in_child(process)
            return original(process, *args, **kwargs)

        self._original = original
        BaseProcess._bootstrap = _bootstrap  # type: ignore[attr-defined]

    def teardown(self) -> None:
        from multiprocessing.process import BaseProcess

        if self._original is not None:
            BaseProcess._bootstrap = self._original  # type: ignore[attr-defined]
            self._original = None

    def in_child(self, process: Any) -> None:
        """In the child, before its ``run``: wrap ``run``, and pool tasks if this is a pool worker."""
        run = process.run

        def run_and_report() -> Any:
            try:
                return run()
            except Exception as exc:
                self.report(exc)
                raise

        process.run = run_and_report
        pool = sys.modules.get("multiprocessing.pool")
        if pool is not None:
            namespace = vars(pool)  # ``ExceptionWithTraceback`` is not in the typeshed stubs
            original = namespace["ExceptionWithTraceback"]
            if original.__name__ != "report_task_exception":

                def report_task_exception(exc: BaseException, tb: Any) -> Any:
                    self.report(exc)
                    return original(exc, tb)

                namespace["ExceptionWithTraceback"] = report_task_exception

    def report(self, exc: BaseException) -> None:
        if isinstance(exc, Exception) and report(self.name, exc, mechanism="multiprocessing", tb=exc.__traceback__):
            _flush_child()


class FuturesIntegration(Integration):
    """Reports ``concurrent.futures`` exceptions nobody retrieved (see the module's docstring)."""

    name = "futures"
    framework_module = "concurrent.futures"

    def __init__(self) -> None:
        self._originals: dict[str, Any] = {}
        self._pending: queue.SimpleQueue[BaseException | None] | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._marked: weakref.WeakSet[Future[Any]] | None = None

    def setup_once(self) -> None:
        from concurrent.futures import Future

        if self._originals:
            return
        originals = {name: Future.__dict__[name] for name in ("set_exception", "result", "exception")}
        integration = self

        def set_exception(future: Future[Any], exception: BaseException | None) -> None:
            attrs = vars(future)
            before = attrs.get(UNRETRIEVED)
            attrs[UNRETRIEVED] = True  # before the done callbacks run: they may retrieve it
            try:
                originals["set_exception"](future, exception)
            except BaseException:
                attrs[UNRETRIEVED] = before
                raise
            with suppress_internal_errors("futures"):  # e.g. no new thread at interpreter shutdown
                integration.marked(future)

        def result(future: Future[Any], timeout: float | None = None) -> Any:
            try:
                return originals["result"](future, timeout)
            finally:
                _retrieved(future)

        def exception(future: Future[Any], timeout: float | None = None) -> BaseException | None:
            try:
                found: BaseException | None = originals["exception"](future, timeout)
                return found
            finally:
                _retrieved(future)

        def __del__(future: Future[Any]) -> None:
            if vars(future).get(UNRETRIEVED):
                with suppress_internal_errors("futures"):  # an error here would be "unraisable": a crash
                    integration.collected(future)

        self._originals = originals
        for name, function in (("set_exception", set_exception), ("result", result), ("exception", exception),
                               ("__del__", __del__)):
            setattr(Future, name, function)

    def teardown(self) -> None:
        from concurrent.futures import Future

        if not self._originals:
            return
        for name, function in self._originals.items():
            setattr(Future, name, function)
        del Future.__del__  # type: ignore[attr-defined]
        self._originals = {}

    # -- a marked future ------------------------------------------------------------------
    def marked(self, future: Future[Any]) -> None:
        """A future got an exception: track it for exit, and make sure the reporter runs."""
        if self._pid != os.getpid():  # first time, or a forked child: no thread here yet
            import atexit
            import queue
            import threading
            import weakref

            self._pid = os.getpid()
            self._pending = queue.SimpleQueue()
            self._marked = weakref.WeakSet()
            self._thread = threading.Thread(target=self._report_collected, name="crashveil-futures",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.at_exit)  # after init()'s: runs before the client closes
        if self._marked is not None:
            self._marked.add(future)

    def collected(self, future: Future[Any]) -> None:
        """From the finaliser: hand the exception to the reporter thread (no capture here)."""
        pending = self._pending
        read = self._originals.get("exception")
        if pending is None or read is None:
            return
        exc = read(future, 0)
        if exc is not None:
            pending.put(exc)

    def _report_collected(self) -> None:
        pending = self._pending
        while pending is not None:
            exc = pending.get()
            if exc is None:
                return
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        report(self.name, exc, mechanism="future", tb=exc.__traceback__)

    def at_exit(self) -> None:
        """Report marked futures still alive, then what the reporter thread has not taken yet."""
        if self._pid != os.getpid():
            return
        for future in list(self._marked or ()):
            if vars(future).pop(UNRETRIEVED, False):
                exc = self._originals["exception"](future, 0) if self._originals else None
                if exc is not None:
                    self._report(exc)
        pending = self._pending
        while pending is not None and not pending.empty():
            exc = pending.get_nowait()
            if exc is not None:
                self._report(exc)


def _retrieved(future: Future[Any]) -> None:
    """``result()`` or ``exception()`` returned or raised the outcome: the app has seen it.

    One dict lookup for a future that never failed (the common path of every task).
    """
    attrs = vars(future)
    if UNRETRIEVED in attrs and future.done():
        attrs.pop(UNRETRIEVED, None)


def default_integrations() -> tuple[MultiprocessingIntegration, FuturesIntegration]:
    return (MultiprocessingIntegration(), FuturesIntegration())
