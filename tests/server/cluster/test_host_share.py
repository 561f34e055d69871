"""Rate limits across hosts: each host applies 1 / (live hosts) of every limit, and the live
hosts are counted from their heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crashveil.server.cluster.hosts import Heartbeat, live_host_count
from crashveil.server.db import engine as db
from crashveil.server.http.ratelimit import HostShare, KeyedLimiter


def test_a_limiter_applies_its_hosts_share() -> None:
    share = HostShare()
    limiter = KeyedLimiter(rate_per_s=1.0, burst=6, clock=lambda: 0.0, share=share)
    alone = sum(limiter.take("p") == 0.0 for _ in range(10))
    share.set_hosts(3)
    shared = KeyedLimiter(rate_per_s=1.0, burst=6, clock=lambda: 0.0, share=share)
    assert (6, 2, 3.0) == (alone, sum(shared.take("p") == 0.0 for _ in range(10)), shared.take("p"))


def test_live_hosts_are_those_that_beat_lately(database_url: str) -> None:
    engine = db.create_engine(database_url)
    clock = [datetime(2026, 12, 7, 5, 0, tzinfo=UTC)]
    seen: list[int] = []
    try:
        beats = [Heartbeat(engine, name, interval_s=10, on_live=seen.append, now=lambda: clock[0])
                 for name in ("a", "b", "c")]
        for beat in beats:
            beat.beat()
        clock[0] += timedelta(seconds=31)
        beats[0].beat()  # b and c stopped 31 s ago: 3 heartbeats missed
        assert ([1, 2, 3, 1], 1) == (seen, live_host_count(engine, now=clock[0], heartbeat_s=10))
    finally:
        engine.dispose()


def test_the_processes_of_one_host_beat_at_once_without_a_conflict(database_url: str) -> None:
    """Every front of a host beats for the same row; racing first beats must all succeed (an
    update-then-insert made one of them fail with a duplicate key on PostgreSQL)."""
    import threading

    from crashveil.server.cluster.hosts import heartbeat, list_hosts

    engine = db.create_engine(database_url)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def beat(n: int) -> None:
        start.wait()
        try:
            for i in range(20):
                heartbeat(engine, f"host-{i}", now=datetime(2026, 12, 7, 5, 0, n, tzinfo=UTC))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    try:
        threads = [threading.Thread(target=beat, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert ([], 20) == ([type(e).__name__ for e in errors], len(list_hosts(engine)))
    finally:
        engine.dispose()
