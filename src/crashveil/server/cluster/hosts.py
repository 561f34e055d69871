"""The hosts of one server: registered by ``init`` and ``add-host``, alive while they beat.

Every running host writes its heartbeat every ``heartbeat_s`` (an UPDATE of its own row);
a host whose heartbeat is older than ``3 x heartbeat_s`` is no longer counted. The count of
live hosts is what the per-host share of the rate limits divides by (``http/ratelimit.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crashveil.server.db import engine as db
from crashveil.server.db.cluster_tables import cluster_hosts

logger = logging.getLogger("crashveil.server.cluster")

__all__ = ["Heartbeat", "HostRecord", "heartbeat", "list_hosts", "live_host_count", "register_host"]


@dataclass(frozen=True)
class HostRecord:
    name: str
    first_seen: datetime
    last_heartbeat: datetime


def register_host(engine: Engine, name: str, *, now: datetime) -> bool:
    """Add host ``name`` (``False``: it was already registered; its heartbeat is refreshed)."""
    try:
        with db.write_tx(engine) as conn:
            conn.execute(cluster_hosts.insert().values(name=name, first_seen=now, last_heartbeat=now))
        return True
    except IntegrityError:
        heartbeat(engine, name, now=now)
        return False


def heartbeat(engine: Engine, name: str, *, now: datetime) -> None:
    """Mark host ``name`` alive at ``now`` (registering it if it is not yet). One upsert: the
    processes of one host beat for the same row at once, and an update-then-insert would race."""
    with db.write_tx(engine) as conn:
        conn.execute(db.dialect_insert(conn, cluster_hosts).values(name=name, first_seen=now, last_heartbeat=now)
                     .on_conflict_do_update(index_elements=[cluster_hosts.c.name], set_={"last_heartbeat": now}))


def live_host_count(engine: Engine, *, now: datetime, heartbeat_s: float) -> int:
    """Hosts whose last heartbeat is within ``3 x heartbeat_s`` of ``now`` (at least 1: this one)."""
    since = now - timedelta(seconds=3 * heartbeat_s)
    with db.read_tx(engine) as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(cluster_hosts)
                             .where(cluster_hosts.c.last_heartbeat >= since)).scalar_one()
    return max(1, int(count))


def list_hosts(engine: Engine) -> list[HostRecord]:
    with db.read_tx(engine) as conn:
        rows = conn.execute(sa.select(cluster_hosts).order_by(cluster_hosts.c.name)).all()
    return [HostRecord(row.name, row.first_seen, row.last_heartbeat) for row in rows]


class Heartbeat:
    """A host's heartbeat (an asyncio task): every ``interval_s`` it marks the host alive and
    tells ``on_live`` how many hosts are alive (the rate limits' share)."""

    def __init__(self, engine: Engine, name: str, *, interval_s: float, on_live: Callable[[int], None],
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.name = name
        self.interval_s = interval_s
        self.on_live = on_live
        self._now = now

    def beat(self) -> int:
        """One heartbeat (blocking): mark alive, count the live hosts, report the count."""
        now = self._now()
        heartbeat(self.engine, self.name, now=now)
        live = live_host_count(self.engine, now=now, heartbeat_s=self.interval_s)
        self.on_live(live)
        return live

    async def run(self) -> None:
        """Beat until cancelled; a failed beat (database away) is logged and retried."""
        while True:
            try:
                await asyncio.to_thread(self.beat)
            except SQLAlchemyError as exc:
                logger.warning("heartbeat of host %s failed (%s)", self.name, type(exc).__name__)
            await asyncio.sleep(self.interval_s)
