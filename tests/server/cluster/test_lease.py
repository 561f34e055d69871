"""Leases: one holder at a time, on SQLite and PostgreSQL; a periodic job runs on one host."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from crashveil.server.cluster.lease import Lease
from crashveil.server.cluster.periodic import PeriodicJob
from crashveil.server.db import engine as db


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_one_holder_at_a_time(database_url: str) -> None:
    engine = db.create_engine(database_url)
    clock = _Clock()
    a, b = (Lease(engine, "retention", holder, ttl_s=60, now=clock) for holder in ("a:1", "b:1"))
    try:
        taken = [a.acquire(), b.acquire(), a.acquire(), b.renew()]
        clock.now += timedelta(seconds=61)  # a stopped renewing: b takes over
        taken += [b.acquire(), a.renew()]
        b.finish(clock.now + timedelta(hours=1))  # ran: closed to all until the next period
        taken += [a.acquire(), b.acquire()]
        clock.now += timedelta(hours=1)
        taken += [a.acquire()]
        a.release()
        taken += [b.acquire()]
        assert [True, False, True, False, True, False, False, False, True, True] == taken
    finally:
        engine.dispose()


def test_hosts_racing_for_a_lease_get_it_once(database_url: str) -> None:
    engine = db.create_engine(database_url)
    start = threading.Barrier(6)
    won: list[str] = []

    def race(holder: str) -> None:
        lease = Lease(engine, "race", holder)
        start.wait()
        if lease.acquire():
            won.append(holder)

    threads = [threading.Thread(target=race, args=(f"host-{i}:1",)) for i in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert 1 == len(won), won
    finally:
        engine.dispose()


def test_two_hosts_one_retention_run_per_period(database_url: str) -> None:
    """Both hosts' schedulers poll at once: the job runs once; the loser does not run it
    again in the same period, even after the winner finished."""
    engine = db.create_engine(database_url)
    ran: list[str] = []
    gate = threading.Event()

    def job(host: str) -> None:
        ran.append(host)
        gate.wait(10)

    jobs = [PeriodicJob(Lease(engine, "retention", f"{host}:1"), lambda host=host: job(host), interval_s=3600)
            for host in ("a", "b")]

    async def main() -> list[bool]:
        first = asyncio.gather(*(each.run_once() for each in jobs))
        await asyncio.sleep(0)
        while not ran:  # the winner is in its job; the loser has been refused by then or soon
            await asyncio.sleep(0.01)
        gate.set()
        results = list(await first)
        results += await asyncio.gather(*(each.run_once() for each in jobs))
        return results

    try:
        results = asyncio.run(asyncio.wait_for(main(), 60))
        holder, until = Lease(engine, "retention", "x:1").state() or ("?", None)
        assert (1, [True, False, False, False], "") == (len(ran), sorted(results[:2], reverse=True) + results[2:],
                                                        holder), (ran, results)
        assert until is not None and until > datetime.now(UTC) + timedelta(minutes=50)
    finally:
        engine.dispose()
