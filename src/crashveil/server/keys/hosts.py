"""Which KEKs each live server process holds: the heartbeat ``keys rotate`` waits on.

Every server process writes one ``kek_hosts`` row (``host:pid``) every ``kek_heartbeat_s``:
its host name, its current KEK and the ids of every KEK its set holds (ids only, never a
key). Before a KEK rotation rewraps anything under a new KEK, :func:`lagging_hosts` names the
hosts with a live process that does not hold it: rewrapping then would make those hosts
answer 503 until their set arrives. A process that stops deletes its row; one that dies is
ignored after ``kek_host_live_s``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from crashveil.errors import CrashveilError
from crashveil.server.db.engine import dialect_insert, read_tx, write_tx
from crashveil.server.db.tables import kek_hosts
from crashveil.server.keys.kek import KeyEncryptionKeyProvider

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["KekHeartbeat", "kek_lagging_hosts", "lagging_hosts", "record_heartbeat", "wait_for_hosts"]

logger = logging.getLogger("crashveil.server.keys")


def record_heartbeat(engine: sa.Engine, provider: KeyEncryptionKeyProvider, *, host: str, process_id: str,
                     now: datetime) -> None:
    """Write this process's row: its current KEK and every KEK id its set holds."""
    infos = provider.keys()
    current = next((info.kek_id for info in infos if info.current), provider.current_id())
    values = {"host": host, "current_kek": current, "kek_ids": " ".join(sorted(i.kek_id for i in infos)),
              "seen_at": now}
    with write_tx(engine) as conn:
        conn.execute(dialect_insert(conn, kek_hosts).values(process_id=process_id, **values)
                     .on_conflict_do_update(index_elements=[kek_hosts.c.process_id], set_=values))


def forget_process(engine: sa.Engine, process_id: str) -> None:
    with write_tx(engine) as conn:
        conn.execute(kek_hosts.delete().where(kek_hosts.c.process_id == process_id))


def lagging_hosts(engine: sa.Engine, kek_id: str, *, now: datetime, live: timedelta,
                  skip_host: str | None = None) -> list[str]:
    """Hosts (but ``skip_host``) with a process seen within ``live`` whose KEK set lacks ``kek_id``."""
    with read_tx(engine) as conn:
        rows = conn.execute(sa.select(kek_hosts.c.host, kek_hosts.c.kek_ids, kek_hosts.c.seen_at)
                            .where(kek_hosts.c.seen_at >= now - live)).all()
    return sorted({row.host for row in rows if kek_id not in row.kek_ids.split() and row.host != skip_host})


def wait_for_hosts(engine: sa.Engine, kek_id: str, *, live: timedelta, wait_s: float, skip_host: str | None = None,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC),
                   clock: Callable[[], float] = time.monotonic, poll_s: float = 0.5) -> list[str]:
    """:func:`lagging_hosts`, asked again until none lags or ``wait_s`` has passed (a host
    picks a new KEK file up within one heartbeat)."""
    deadline = clock() + wait_s
    while True:
        lagging = lagging_hosts(engine, kek_id, now=now(), live=live, skip_host=skip_host)
        if not lagging or clock() >= deadline:
            return lagging
        time.sleep(poll_s)


class KekHeartbeat:
    """A daemon thread writing this process's heartbeat every ``interval_s`` until :meth:`stop`."""

    def __init__(self, engine: sa.Engine, provider: KeyEncryptionKeyProvider, *, host: str, interval_s: float,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._provider = provider
        self._host = host
        self.process_id = f"{host}:{os.getpid()}"[:128]
        self._interval_s = interval_s
        self._now = now
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """One heartbeat; a failure is logged (the next beat tries again), never raised."""
        try:
            record_heartbeat(self._engine, self._provider, host=self._host, process_id=self.process_id,
                             now=self._now())
        except (CrashveilError, sa.exc.SQLAlchemyError) as exc:
            logger.warning("KEK heartbeat not written (%s); 'keys rotate' may wait for this host", type(exc).__name__)

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="crashveil-kek-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self.beat()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            forget_process(self._engine, self.process_id)
        except sa.exc.SQLAlchemyError:
            pass  # the row ages out after kek_host_live_s


def kek_lagging_hosts(settings: Settings, engine: sa.Engine,
                      provider: KeyEncryptionKeyProvider) -> Callable[[str], list[str]]:
    """What ``KeyRing.rotate_kek`` asks before rewrapping: the live hosts without the new KEK,
    after waiting up to two heartbeats for them. This host is left out when its KEK comes from
    a file: its processes read the same file, and re-read it when it changes."""
    from crashveil.server.keys.kek import FileKeyProvider

    this_host = settings.this_host

    def lagging(kek_id: str) -> list[str]:
        hosts = wait_for_hosts(engine, kek_id, live=timedelta(seconds=settings.kek_host_live_s),
                               wait_s=2 * settings.kek_heartbeat_s + 1,
                               skip_host=this_host if isinstance(provider, FileKeyProvider) else None)
        return hosts
    return lagging
