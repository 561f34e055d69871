"""Keys this server could not find or unwrap: logged, counted, and shown by ``/readyz``.

A :class:`~crashveil.errors.KeyUnavailableError` is a server fault (the sender's report is
fine; the SDK keeps it on the 503). :class:`KeyFaults` remembers each failing key with what
it takes to try it again, so the ``keys`` readiness check fails naming the key id while it
still fails (a load balancer then sends reports to a host that has the KEK) and passes again
by itself once the KEK set arrives. The ERROR log line comes once per key per minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from crashveil.errors import KeyUnavailableError

__all__ = ["KeyFault", "KeyFaults", "LOG_EVERY_S"]

logger = logging.getLogger("crashveil.server.keys")

#: One ERROR line per failing key at most this often.
LOG_EVERY_S = 60.0
#: Failing keys remembered at most (an attacker cannot grow the map: key ids come from our database).
_MAX_FAULTS = 64


@dataclass
class KeyFault:
    """One key that failed, and a way to try it again (no key material)."""

    key_id: str
    kek_id: str | None
    problem: str
    retry: Callable[[], object]
    logged_at: float
    count: int = 1


class KeyFaults:
    """The keys that failed to unwrap here and have not unwrapped since."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, KeyFault] = {}
        self.total = 0  # every failure, for metrics

    def failed(self, exc: KeyUnavailableError, retry: Callable[[], object]) -> None:
        """Note a failure; log it at ERROR unless this key was logged less than a minute ago."""
        now = self._clock()
        with self._lock:
            self.total += 1
            fault = self._faults.get(exc.key_id)
            if fault is not None:
                fault.count += 1
                fault.retry, fault.kek_id, fault.problem = retry, exc.kek_id, exc.problem
                if now - fault.logged_at < LOG_EVERY_S:
                    return
                fault.logged_at, count = now, fault.count
            else:
                if len(self._faults) >= _MAX_FAULTS:
                    self._faults.pop(next(iter(self._faults)))
                self._faults[exc.key_id] = KeyFault(exc.key_id, exc.kek_id, exc.problem, retry, now)
                count = 1
        logger.error("key unavailable: %s (%d failure(s)); requests needing it are answered 503 and the senders "
                     "keep their reports: give this host the KEK set the other hosts use", exc, count)

    def succeeded(self, key_id: str) -> None:
        if self._faults:
            with self._lock:
                self._faults.pop(key_id, None)

    def current(self) -> list[KeyFault]:
        """Faults still failing: each is tried again; those that now unwrap are forgotten."""
        with self._lock:
            faults = list(self._faults.values())
        failing = []
        for fault in faults:
            try:
                fault.retry()
            except KeyUnavailableError:
                failing.append(fault)
            except Exception:  # noqa: BLE001 - a retry that fails otherwise (row gone, destroyed) is no key fault
                self.succeeded(fault.key_id)
            else:
                self.succeeded(fault.key_id)
        return failing
