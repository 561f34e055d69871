"""A periodic job that one host at a time runs, under a :class:`~crashveil.server.cluster.lease.Lease`.

Every host runs a :class:`PeriodicJob` (an asyncio task). Every ``poll_s`` it tries the
lease; the host that gets it runs the job in a worker thread, renews the lease every third
of its ttl while the job runs, and then closes the lease until ``interval_s`` after the run
started. So the job runs about once per ``interval_s`` across all hosts, wherever it can;
if the host running it dies, another takes it over within the lease's ttl plus ``poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crashveil.errors import AuditTamperedError, KeyUnavailableError
from crashveil.server.cluster.lease import Lease

__all__ = ["PeriodicJob"]

logger = logging.getLogger("crashveil.server.cluster")


class PeriodicJob:
    """Run ``job`` (blocking; called in a worker thread) about every ``interval_s`` under ``lease``."""

    def __init__(self, lease: Lease, job: Callable[[], object], *, interval_s: float = 3600.0,
                 poll_s: float = 60.0, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lease = lease
        self.job = job
        self.interval_s = interval_s
        self.poll_s = poll_s
        self._now = now
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # runs done by this process (tests and logs)

    async def run_once(self) -> bool:
        """Run the job if this host gets the lease; ``True`` if it ran."""
        if not await asyncio.to_thread(self.lease.acquire):
            return False
        started = self._now()
        work = asyncio.ensure_future(asyncio.to_thread(self.job))
        renew_every = self.lease.ttl.total_seconds() / 3
        try:
            while True:
                done, _ = await asyncio.wait({work}, timeout=renew_every)
                if done:
                    break
                if not await asyncio.to_thread(self.lease.renew):
                    logger.warning("lease %s was lost while its job ran", self.lease.name)
            work.result()
        except AuditTamperedError as exc:  # the job's work is done; its audit entry could not be signed
            logger.error("%s run could not be audited: %s", self.lease.name, exc)
        except KeyUnavailableError as exc:  # this host lacks the KEK set; /readyz names the key
            logger.error("%s run stopped: %s", self.lease.name, exc)
        except Exception:  # keep the server up; the next period retries (logged without content)
            logger.exception("%s failed", self.lease.name)
        finally:
            if work.done():
                self.runs += 1
                await asyncio.to_thread(self.lease.finish, started + timedelta(seconds=self.interval_s))
        return True

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the database is away: try again at the next poll
                logger.exception("%s: the lease could not be read", self.lease.name)
            await asyncio.sleep(self.poll_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"crashveil-{self.lease.name}")

    async def stop(self) -> None:
        """Stop polling. A job still running keeps its lease until the ttl runs out."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
