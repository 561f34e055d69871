"""Alerts in the server process: the periodic checks (spike, crash-free rate) under the
``alerts`` lease, one host at a time, and the outbox worker (a thread), started with the
host's jobs (``cluster.membership.HostJobs``).

The worker needs a :class:`~crashveil.server.alerts.worker.DestinationDirectory`;
:func:`destination_directory` gives the server's: the destinations stored with
``crashveil destination add`` (a project without any keeps its notifications in the outbox).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crashveil.policy.model import Policy
from crashveil.server.alerts.checks import run_alert_checks
from crashveil.server.alerts.worker import DestinationDirectory, OutboxWorker
from crashveil.server.cluster.lease import Lease, holder_name
from crashveil.server.cluster.periodic import PeriodicJob

if TYPE_CHECKING:
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

__all__ = ["ALERTS_LEASE", "AlertJobs", "destination_directory"]

#: The lease of the periodic alert checks.
ALERTS_LEASE = "alerts"
#: How often the checks run (a spike is judged on the last whole hour; dedupe makes reruns free).
CHECK_INTERVAL_S = 900.0


def destination_directory(storage: Storage, settings: Settings) -> DestinationDirectory | None:
    """The server's destinations by project: the ones ``crashveil destination add`` stored."""
    del settings
    from crashveil.server.alerts.destinations.store import StoredDestinations

    return StoredDestinations(storage)


class AlertJobs:
    """The alert checks' periodic job and, with a directory, the outbox worker."""

    def __init__(self, storage: Storage, settings: Settings, directory: DestinationDirectory | None) -> None:
        def policy_of(project_id: str) -> Policy | None:
            record = storage.project(project_id)
            return None if record is None else record.policy

        lease = Lease(storage.engine, ALERTS_LEASE, holder_name(settings.this_host))
        self.checks = PeriodicJob(lease, lambda: run_alert_checks(storage.engine, policy_of, now=datetime.now(UTC),
                                                                  base_url=settings.public_url),
                                  interval_s=CHECK_INTERVAL_S, poll_s=60.0)
        self.worker = OutboxWorker(storage.engine, directory, policy_of) if directory is not None else None

    def start(self) -> None:
        self.checks.start()
        if self.worker is not None:
            self.worker.start()

    async def stop(self) -> None:
        import asyncio

        await self.checks.stop()
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
