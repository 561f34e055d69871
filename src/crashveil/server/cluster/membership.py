"""A running host's part in its server: the checks before it serves, and the jobs it runs.

Before a host serves, :func:`join` checks that its directory and the database belong to
the same server (``identity.py``) and registers the host. While it serves, :class:`HostJobs`
keeps its heartbeat (and so the rate limits' share), refreshes the cache versions, and
takes part in the retention lease: every host polls it, one runs retention per hour.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crashveil.server.cluster.hosts import Heartbeat, register_host
from crashveil.server.cluster.identity import check_identity
from crashveil.server.cluster.lease import Lease, holder_name
from crashveil.server.cluster.periodic import PeriodicJob
from crashveil.server.http.ratelimit import HOST_SHARE
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

if TYPE_CHECKING:
    from crashveil.server.alerts.service import AlertJobs

__all__ = ["RETENTION_LEASE", "HostJobs", "join"]

#: The lease of the hourly retention run.
RETENTION_LEASE = "retention"
#: How often each host asks for the retention lease (the longest a dead holder's run waits
#: for another host, beyond the lease's ttl).
RETENTION_POLL_S = 60.0


def join(storage: Storage, settings: Settings) -> str:
    """Check the directory's server against the database's and register this host; the server id.

    Raises:
        ClusterError: the directory and the database belong to different servers.
    """
    now = datetime.now(UTC)
    server_id = check_identity(storage.engine, settings.server_dir, now=now)
    register_host(storage.engine, settings.this_host, now=now)
    return server_id


class HostJobs:
    """The asyncio tasks of one server process: the cache versions and the heartbeat (every
    process: each keeps its own share of the rate limits); with ``host_wide`` (one process
    per host) the retention lease too."""

    def __init__(self, storage: Storage, settings: Settings, *, host_wide: bool) -> None:
        from crashveil.server.governance.audit import AuditTrail
        from crashveil.server.governance.retention import run_retention

        self.storage = storage
        self.retention: PeriodicJob | None = None
        self.alerts: AlertJobs | None = None
        self.heartbeat = Heartbeat(storage.engine, settings.this_host, interval_s=settings.heartbeat_s,
                                   on_live=HOST_SHARE.set_hosts)
        if host_wide:
            audit = AuditTrail.for_server_dir(storage.engine, settings.server_dir, provider=storage.keys)
            lease = Lease(storage.engine, RETENTION_LEASE, holder_name(settings.this_host))
            self.retention = PeriodicJob(lease, lambda: run_retention(storage, audit), poll_s=RETENTION_POLL_S)
            from crashveil.server.alerts.service import AlertJobs, destination_directory

            self.alerts = AlertJobs(storage, settings, destination_directory(storage, settings))
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.storage.versions.run(), name="crashveil-cache-versions"))
        self._tasks.append(loop.create_task(self.heartbeat.run(), name="crashveil-heartbeat"))
        if self.retention is not None:
            self.retention.start()
        if self.alerts is not None:
            self.alerts.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.retention is not None:
            await self.retention.stop()
        if self.alerts is not None:
            await self.alerts.stop()
