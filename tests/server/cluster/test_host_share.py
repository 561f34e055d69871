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
