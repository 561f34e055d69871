"""Token buckets per key (project, pseudonym), in memory per process, with an injected clock.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; a request takes one
token or is refused with the seconds until one is back (the ``Retry-After`` the client
obeys). Limits are per process: with several server processes each has its own buckets, so
the effective limit is multiplied by the number of processes. That is deliberate: no shared
state, no extra moving part (bugsink's lesson), and the limits are abuse brakes, not quotas.

Memory is bounded: at most ``max_keys`` buckets are kept, least recently used evicted first.
An evicted key comes back with a full bucket, which only helps an attacker who already
controls ``max_keys`` distinct keys; the per-project bucket still holds them all.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["KeyedLimiter", "retry_after_header"]


class KeyedLimiter:
    """Token buckets keyed by a string; thread-safe (ingest runs in worker threads).

    Args:
        rate_per_s: tokens added per second to each bucket.
        burst: bucket size, the number of requests a key may make at once.
        clock: monotonic seconds; tests pass a fake one.
        max_keys: buckets kept before the least recently used is evicted.
    """

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: ``0.0`` if allowed, else seconds until a token is back."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (``0.0``: it has one now), without taking it."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def refund(self, key: str) -> None:
        """Give back one token taken for ``key`` (never above ``burst``); a key no longer
        kept (evicted) is left as it is: it comes back full anyway."""
        now = self._clock()
        with self._lock:
            kept = self._buckets.get(key)
            if kept is not None:
                tokens, at = kept
                tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s + 1.0)
                self._buckets[key] = (tokens, now)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for ``Retry-After`` (never 0: a client told 0 retries at once)."""
    return str(max(1, math.ceil(wait_s)))
