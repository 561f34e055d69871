"""Group commit in one server process: a writer thread stores what is queued, many reports
per transaction, and settles each request's future after the commit (a 201 means committed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeAlias, TypeVar

if TYPE_CHECKING:
    from crashveil.server.storage.records import StoreResult, StoreRow

__all__ = ["NO_WAIT", "POSTGRESQL_WAIT", "BatchWait", "Committer", "GroupCommitter", "batch_wait"]

#: What is queued (a ``StoreRow`` in the server) and what storing one answers (a ``StoreResult``).
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
#: Who waits for an item: a thread (a concurrent future) or an event loop (its loop and future).
_Waiter: TypeAlias = "Future[ResultT] | tuple[asyncio.AbstractEventLoop, asyncio.Future[ResultT]]"


@dataclass(frozen=True)
class BatchWait:
    """How a writer gathers a batch once it has a report: it waits for another while the
    last came less than ``gap_s`` ago, up to ``max_wait_s`` after it began (0: it takes
    what is queued and goes). An idle server so commits a lone report ``gap_s`` later."""

    gap_s: float = 0.0
    max_wait_s: float = 0.0


NO_WAIT = BatchWait()
#: PostgreSQL: a batch costs ~20 round trips and a group row update per group whatever its
#: size, and with one process the reports reach the writer thread one by one while the
#: event loop prepares them: committing each at once spent ~4 ms of CPU on every 2-4
#: reports. Waiting while they keep coming made one process store ~1.2x as many reports/s
#: at ~0.86x the CPU each (bench/ingest.py --processes). The writer *process* of
#: ``--workers N`` does not wait (``writer.serve_writer``): it is bound by the round trips'
#: latency, and waiting there cost ~10 % of its throughput in the same runs.
POSTGRESQL_WAIT = BatchWait(gap_s=0.002, max_wait_s=0.010)


def batch_wait(sqlite: bool) -> BatchWait:
    """The gathering of one engine's writer thread: SQLite commits what is queued at once
    (its batch's fixed cost is small), PostgreSQL waits a little."""
    return NO_WAIT if sqlite else POSTGRESQL_WAIT


class Committer(Protocol):
    """What the pipeline stores prepared rows through: a :class:`GroupCommitter` (a writer
    thread in this process) or a ``writer.WriterClient`` (the writer process)."""

    #: True while the writer holds the write lock and runs its statements.
    writing: bool

    async def writer_pause(self) -> None: ...

    def submit_async(self, row: StoreRow) -> asyncio.Future[StoreResult]: ...

    def close(self) -> None: ...


#: Queued instead of an item: the writer stops (after the batch it is taking).
_STOP = None


class GroupCommitter(Generic[ItemT, ResultT]):
    """Group commit: one writer thread stores whatever is queued in one transaction.

    ``submit`` enqueues a prepared report and returns a future. The writer takes the first
    queued report, everything else already queued (up to ``max_batch``; with
    ``max_wait_s`` > 0 it also waits that long for more), calls ``store_many`` once (one
    transaction, one fsync) and then resolves every future of the batch: with the report's
    ``StoreResult`` after the commit, or with the exception if the batch failed, so a 201 is
    only ever sent for a committed report and a storage failure answers 503 to each.
    While one batch commits the next one queues, so batches grow with the load by
    themselves; an idle server commits a lone report at once.

    If ``store_many`` takes ``more`` and ``sql_done`` arguments (``Storage.store_rows``
    does), it calls ``more`` once it holds the database's write lock, and the reports
    queued meanwhile join the batch: with several processes over one SQLite file, a writer
    that waited for the lock commits everything that arrived during the wait in the same
    fsync. From then until ``sql_done`` (the statements ran, the COMMIT is left)
    :attr:`writing` is true, and the event loop holds back new CPU work
    (:meth:`writer_pause`): the lock is the one thing every process waits for, and a
    writer that must win the GIL back from the loop at each statement holds it for
    several times its own CPU time.
    """

    def __init__(self, store_many: Callable[..., list[ResultT]], *, max_batch: int = 256,
                 max_wait_s: float = 0.0, gap_s: float = 0.0) -> None:
        import inspect
        import queue
        import threading

        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store_many = store_many
        try:
            params = inspect.signature(store_many).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._late_joiners = "more" in params and "sql_done" in params
        #: True while the writer holds the write lock and runs its statements.
        self.writing = False
        self._pauses: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        #: With ``max_wait_s``: stop waiting once no report came for this long (0: wait it all).
        self.gap_s = gap_s
        self._queue: queue.SimpleQueue[tuple[ItemT, _Waiter[ResultT]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.stored = 0

    def submit(self, pending: ItemT) -> Future[ResultT]:
        """Queue ``pending``; a ``concurrent.futures.Future`` of its ``StoreResult``."""
        future: Future[ResultT] = Future()
        self._put(pending, future)
        return future

    def submit_async(self, pending: ItemT) -> asyncio.Future[ResultT]:
        """Queue ``pending`` from the running event loop; an ``asyncio.Future`` of its
        ``StoreResult``. The writer settles all of a batch's futures of one loop with one
        ``call_soon_threadsafe`` (one wake-up per batch, not one per report)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._put(pending, (loop, future))
        return future

    def _put(self, pending: ItemT, waiter: _Waiter[ResultT]) -> None:
        with self._lock:
            if self._closed:
                from crashveil.errors import StorageError

                raise StorageError("the server is shutting down")
            if self._thread is None:
                import threading

                self._thread = threading.Thread(target=self._run, name="crashveil-group-commit", daemon=True)
                self._thread.start()
            self._queue.put((pending, waiter))

    def close(self, timeout: float | None = 30.0) -> None:
        """Store what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _take(self) -> tuple[list[tuple[ItemT, _Waiter[ResultT]]], bool]:
        """The next batch: the first queued report (waited for), then what else is queued,
        waiting up to ``max_wait_s`` for more; ``([], True)`` when told to stop."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        return [first] + self._drain(self.max_batch - 1, deadline=time.monotonic() + self.max_wait_s,
                                     gap=self.gap_s), False

    async def writer_pause(self) -> None:
        """Return when the writer is not running statements (at once if it is not)."""
        if not self.writing:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if not self.writing:
                return
            self._pauses.append((loop, future))
        await future

    def _sql_done(self) -> None:
        """The writer's statements ran: let the paused event loops go on."""
        with self._lock:
            self.writing = False
            pauses, self._pauses = self._pauses, []
        for loop, future in pauses:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # the loop is closed
                pass

    def _drain(self, room: int, *, deadline: float | None = None,
               gap: float = 0.0) -> list[tuple[ItemT, _Waiter[ResultT]]]:
        """Up to ``room`` queued reports; with a ``deadline`` (monotonic) it waits until then
        for more (with a ``gap``: until none came for that long), else not at all. A queued
        stop stays queued (the writer stops after this batch)."""
        import queue

        items: list[tuple[ItemT, _Waiter[ResultT]]] = []
        while len(items) < room:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = 0.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    break
                if gap > 0:
                    remaining = min(remaining, gap)
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            items.append(item)
        return items

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if stop:
                return
            live = _live(batch)
            if not live:
                continue
            joined: list[tuple[ItemT, _Waiter[ResultT]]] = []
            asked: list[bool] = []

            def more(live: list[tuple[ItemT, _Waiter[ResultT]]] = live,
                     joined: list[tuple[ItemT, _Waiter[ResultT]]] = joined, asked: list[bool] = asked) -> list[ItemT]:
                self.writing = True
                if not asked:  # once: a second call (a retry) gets the same reports
                    asked.append(True)
                    joined.extend(_live(self._drain(self.max_batch - len(live))))
                return [p for p, _ in joined]

            try:
                if self._late_joiners:
                    results: list[ResultT] = self._store_many([p for p, _ in live], more=more,
                                                          sql_done=self._sql_done)
                else:
                    results = self._store_many([p for p, _ in live])
                failure: BaseException | None = None
            except BaseException as exc:  # noqa: BLE001 - every future of the batch fails with it (503)
                results, failure = [], exc
            finally:
                self._sql_done()
            live += joined
            self._answer(live, results, failure)

    def _answer(self, live: list[tuple[ItemT, _Waiter[ResultT]]], results: list[ResultT],
                failure: BaseException | None) -> None:
        """Settle every waiter of a stored batch: with its result, or with the batch's failure."""
        if failure is None and len(results) != len(live):
            failure = RuntimeError("the store answered for a different number of reports")
        if failure is None:
            self.batches += 1
            self.stored += len(live)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[ResultT], int]]] = {}
        for index, (_, waiter) in enumerate(live):
            if isinstance(waiter, tuple):
                by_loop.setdefault(waiter[0], []).append((waiter[1], index))
            elif failure is not None:
                waiter.set_exception(failure)
            else:
                waiter.set_result(results[index])
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled, results, failure)
            except RuntimeError:  # the loop is closed: nobody waits for these answers
                pass


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _live(batch: list[tuple[ItemT, _Waiter[ResultT]]]) -> list[tuple[ItemT, _Waiter[ResultT]]]:
    """The queued reports still wanted. A cancelled concurrent future is not stored; an
    asyncio one is stored anyway (its state belongs to its loop's thread) and its answer
    dropped by _settle."""
    return [(p, w) for p, w in batch if isinstance(w, tuple) or w.set_running_or_notify_cancel()]


def _settle(settled: list[tuple[asyncio.Future[ResultT], int]], results: list[ResultT],
            failure: BaseException | None) -> None:
    """Resolve a batch's asyncio futures (in their loop's thread): each with the result at its index."""
    for future, index in settled:
        if future.done():
            continue  # cancelled: the request is gone
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(results[index])
