"""Token buckets per key (project, pseudonym), in memory per process, with an injected clock.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; a request takes one
token or is refused with the seconds until one is back (the ``Retry-After`` the client
obeys). Limits are per process: no shared state on the request path (bugsink's lesson), and
the limits are abuse brakes, not quotas. So that several processes and hosts still add up
to the configured limit, each applies its share: the fronts of one host divide the settings
among themselves (``run.share_limits``), and every limiter of a process takes
:data:`HOST_SHARE` (1 / the live hosts of the server, kept by the host's heartbeat,
``server/cluster/hosts.py``) of its rate and burst. A shared bucket in PostgreSQL would cost
a row update per request on one hot row per project; bench/cluster_ratelimit.py measures it.

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

__all__ = ["HOST_SHARE", "HostShare", "KeyedLimiter", "retry_after_header"]


class HostShare:
    """The fraction of every limit this host applies: ``1 / live hosts`` (1.0 alone).

    Set by the host's heartbeat task; read by every :class:`KeyedLimiter` of the process
    on each take (a float read: no lock needed)."""

    def __init__(self) -> None:
        self.fraction = 1.0

    def set_hosts(self, live_hosts: int) -> None:
        self.fraction = 1.0 / max(1, live_hosts)


#: This process's share of the server's limits (one per process: the limits are in memory).
HOST_SHARE = HostShare()


class KeyedLimiter:
    """Token buckets keyed by a string; thread-safe (ingest runs in worker threads).

    Args:
        rate_per_s: tokens added per second to each bucket.
        burst: bucket size, the number of requests a key may make at once.
        clock: monotonic seconds; tests pass a fake one.
        max_keys: buckets kept before the least recently used is evicted.
        share: the fraction of ``rate_per_s`` and ``burst`` applied here (default: this
            host's share of the server, :data:`HOST_SHARE`).
    """

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000, share: HostShare = HOST_SHARE) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._share = share

    def _shared(self) -> tuple[float, float]:
        """(rate, burst) this process applies now: its share of the server's."""
        fraction = self._share.fraction
        return self.rate_per_s * fraction, max(1.0, self.burst * fraction)

    def take(self, key: str) -> float:
        """Take one token for ``key``: ``0.0`` if allowed, else seconds until a token is back."""
        now = self._clock()
        rate, burst = self._shared()
        with self._lock:
            tokens, at = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (``0.0``: it has one now), without taking it."""
        now = self._clock()
        rate, burst = self._shared()
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    def refund(self, key: str) -> None:
        """Give back one token taken for ``key`` (never above ``burst``); a key no longer
        kept (evicted) is left as it is: it comes back full anyway."""
        now = self._clock()
        rate, burst = self._shared()
        with self._lock:
            kept = self._buckets.get(key)
            if kept is not None:
                tokens, at = kept
                tokens = min(burst, tokens + max(0.0, now - at) * rate + 1.0)
                self._buckets[key] = (tokens, now)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for ``Retry-After`` (never 0: a client told 0 retries at once)."""
    return str(max(1, math.ceil(wait_s)))
