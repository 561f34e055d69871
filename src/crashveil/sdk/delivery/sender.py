"""The sender: one daemon thread that drains the sealed queue through a transport.

Decisions, by server answer (``SendResult.status``):

=========================  ==================================================================
2xx                        call ``on_sent``, remove the item; a ``Retry-After`` on it pauses
                           the draining that long (a limit carried on a success is obeyed)
400, 413, 415, 422         call ``on_sent`` so the history can say so, drop the item (never
                           retried: a poison item), count ``rejected_<status>`` in
                           ``queue.dropped``
429, 503                   keep; stop draining for ``retry_after_s`` (60 s if absent)
0 (no answer), 5xx,        keep; exponential backoff with jitter: ``min(300, 1 * 2**(n-1))``
other statuses             seconds times a random factor in [0.5, 1), ``n`` failures in a row
=========================  ==================================================================

A crash is never dropped because the server was briefly down: it stays queued until it is
delivered, expires by policy, or the user revokes consent. Items are sent oldest first with
at least ``min_interval_s`` (100 ms) between two sends, so a backlog after a long offline
period does not hammer the server. ``pending`` items (waiting for the user's review) are
never sent.

Threading. The thread starts on the first :meth:`Sender.wake` (the client calls it at init
when the queue holds something, and after each capture), sleeps when there is nothing to do,
and is a daemon: it never keeps the app alive. :meth:`Sender.flush` waits for the queue to
drain but at most ``timeout_s`` measured on the ``now`` clock, polling with ``sleep``; it
never sends itself, so a hung connection cannot hold the app's exit beyond the bound.

Before each send the thread calls ``before_send`` (if given), right before it connects: the
client fetches its remote config there when it is due, so an app that exits soon after a
crash still gets it (``crashveil.sdk.remote.config``, "When."). It runs in the sending
thread like the send itself, so the flush's bound holds for it too: a hung config endpoint
keeps the item queued exactly as a hung send would.

Processes. After ``fork`` the child's first ``wake``/``flush`` notices the new pid and builds
fresh locks and its own thread (locks copied from the parent may be held by a thread that does
not exist in the child). Processes sharing one queue directory take turns through the
queue's non-blocking send lock, so no item is sent twice at once.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable

from crashveil.errors import StorageError
from crashveil.sdk.delivery.queue import QueueItem, SealedQueue
from crashveil.sdk.transport import SendResult, Transport

__all__ = ["DROP_STATUSES", "SENDABLE_KINDS", "Sender"]

logger = logging.getLogger("crashveil")

#: Statuses that mean "this item will never be accepted": drop it, never retry.
DROP_STATUSES = frozenset({400, 413, 415, 422})
#: Statuses that carry a rate limit: keep the item and wait ``retry_after_s``.
LIMIT_STATUSES = frozenset({429, 503})
SENDABLE_KINDS = ("report", "deletion", "adoption", "feedback")

_IDLE_S = 3600.0  # nothing to do: sleep until woken (or re-check once an hour)
_BUSY_RETRY_S = 1.0  # another process holds the send lock


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


class Sender:
    """Drains a :class:`SealedQueue` through a :class:`Transport` on a daemon thread.

    Args:
        queue: the sealed queue to drain.
        transport: where to send (``HttpsTransport``, or a recording one in tests).
        on_sent: called with the item and the result once an item is finished: delivered
            (2xx) or rejected for good (400/413/415/422), before the item leaves the queue
            (so it may see an item again after a kill). Its exceptions are swallowed.
        now: the clock for backoff, rate limits and the flush deadline.
        sleep: how :meth:`flush` waits between two looks at the queue (tests pass a fake
            that advances their clock).
        rng: the jitter's randomness.
        min_interval_s: the least time between two sends.
        base_backoff_s, max_backoff_s: the backoff's first step and its ceiling.
        before_send: called in the sending thread right before each send (an item is read
            and about to go); its exceptions are swallowed. The client fetches a due remote
            config there.
    """

    def __init__(self, queue: SealedQueue, transport: Transport, *,
                 on_sent: Callable[[QueueItem, SendResult], None] | None = None,
                 before_send: Callable[[], None] | None = None,
                 now: Callable[[], float] = time.time, sleep: Callable[[float], None] = _default_sleep,
                 rng: random.Random | None = None, min_interval_s: float = 0.1,
                 base_backoff_s: float = 1.0, max_backoff_s: float = 300.0) -> None:
        self.queue = queue
        self.transport = transport
        self.on_sent = on_sent
        self.before_send = before_send
        self._now = now
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self.min_interval_s = min_interval_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0  # consecutive failures (network, 5xx)
        self.blocked_until = 0.0  # no send before this time (backoff or rate limit)
        self.last_send = float("-inf")
        self._closed = False
        self._reset_for_this_process()

    def _reset_for_this_process(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards the thread slot
        self._step_lock = threading.Lock()  # one step at a time (thread or a test's step())
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public ----------------------------------------------------------------------------
    def wake(self) -> None:
        """There may be something to send: start the thread if needed and nudge it."""
        if self._closed:
            return
        self._ensure_thread()
        self._wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Wait until nothing sendable is queued, at most ``timeout_s`` on the ``now`` clock.

        Returns ``True`` when the queue holds nothing to send, ``False`` when time ran out
        or sending is paused past the deadline (backoff, rate limit): the items stay queued
        for the next start. Never sends from the calling thread.
        """
        deadline = self._now() + max(0.0, timeout_s)
        if not self._sendable():
            return True
        if self._closed:
            return False
        self.wake()
        while True:
            if not self._sendable():
                return True
            remaining = deadline - self._now()
            if remaining <= 0 or self.blocked_until >= deadline:
                return not self._sendable()
            self._sleep(min(remaining, 0.02))

    def close(self) -> None:
        """Stop the thread after its current send (it is a daemon: it never holds the exit)."""
        self._closed = True
        self._wake.set()

    @property
    def thread(self) -> threading.Thread | None:
        """The sender thread of this process, if started."""
        return self._thread if self._pid == os.getpid() else None

    # -- one unit of work ------------------------------------------------------------------
    def step(self) -> float:
        """Send at most one item; returns how long to wait before the next step.

        The thread calls this in a loop; tests call it directly with a fake clock.
        """
        with self._step_lock:
            return self._step()

    def _step(self) -> float:
        now = self._now()
        if now < self.blocked_until:
            return self.blocked_until - now
        if now < self.last_send + self.min_interval_s:
            return self.last_send + self.min_interval_s - now
        with self.queue.sending() as mine:
            if not mine:
                return _BUSY_RETRY_S
            item = self._next_item()
            if item is None:
                return _IDLE_S
            try:
                sealed = self.queue.read(item)
            except StorageError:
                return 0.0  # damaged or gone: the queue removed and counted it; next one
            self._before_send()
            self.last_send = self._now()
            result = self.transport.send(item.meta.kind, sealed)
            return self._handle(item, result)

    def _handle(self, item: QueueItem, result: SendResult) -> float:
        now = self._now()
        status = result.status
        # ``on_sent`` before the removal: killed in between, the item is sent again at the next
        # start (the server deduplicates by report id and answers the same receipt), whereas
        # the other order left its history "queued" forever.
        if 200 <= status < 300:
            self._notify(item, result)
            self.queue.remove(item.id)
            self.failures = 0
            if result.retry_after_s is not None:
                self.blocked_until = now + result.retry_after_s
        elif status in DROP_STATUSES:
            self._notify(item, result)
            self.queue.remove(item.id)
            self.queue.count_drop(f"rejected_{status}")
            self.failures = 0
        elif status in LIMIT_STATUSES:
            self.blocked_until = now + (result.retry_after_s if result.retry_after_s is not None else 60.0)
        else:
            self.failures += 1
            self.blocked_until = now + self.backoff_s(self.failures)
        return max(0.0, max(self.blocked_until, self.last_send + self.min_interval_s) - now)

    def backoff_s(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures: capped exponential, jittered."""
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2.0 ** min(max(failures - 1, 0), 30))
        return ceiling * (0.5 + self._rng.random() / 2)

    def _next_item(self) -> QueueItem | None:
        for item in self.queue.items():
            if item.meta.kind in SENDABLE_KINDS:
                return item
        return None

    def _sendable(self) -> bool:
        try:
            return self._next_item() is not None
        except OSError:
            return False

    def _before_send(self) -> None:
        if self.before_send is None:
            return
        try:
            self.before_send()
        except Exception:  # SDK guard: a callback never stops the sender
            logger.debug("crashveil: before_send callback failed", exc_info=True)

    def _notify(self, item: QueueItem, result: SendResult) -> None:
        if self.on_sent is None:
            return
        try:
            self.on_sent(item, result)
        except Exception:  # SDK guard: a callback never stops the sender
            logger.debug("crashveil: on_sent callback failed", exc_info=True)

    # -- the thread ------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            # A forked child: the parent's locks and thread do not exist here.
            self._reset_for_this_process()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            thread = threading.Thread(target=self._run, name="crashveil-sender", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: the queue keeps the items
                return
            self._thread = thread

    def _run(self) -> None:
        while not self._closed:
            self._wake.clear()  # a wake() from here on makes the wait below return at once
            try:
                delay = self.step()
            except Exception:  # SDK guard: the sender thread never dies of a bug
                logger.debug("crashveil: sender step failed", exc_info=True)
                delay = self.backoff_s(max(self.failures, 1))
            if self._closed:
                return
            if delay > 0:
                self._wake.wait(delay)
