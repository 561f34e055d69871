"""Caches invalidated across hosts: a change on host A reaches host B's caches within the
version check period, not after their 30 s / 60 s TTL."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest

from crashveil.server.cluster.cache_versions import GROUPS, PROJECTS, CacheVersions
from crashveil.server.dashboard.context import TtlCache
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage
from crashveil.wire import Report

CHECK_S = 0.2


@pytest.fixture
def two_hosts(settings: Settings) -> Iterator[tuple[Storage, Storage]]:
    """Two Storage objects over one database, as two hosts have, with the server's cache TTL."""
    cached = dataclasses.replace(settings, project_cache_s=30.0, cache_check_s=CHECK_S)
    host_a, host_b = Storage.open(cached), Storage.open(cached)
    host_a.create_project("demo")
    yield host_a, host_b
    host_a.close()
    host_b.close()


def _within(seconds: float, done: Callable[[], bool]) -> float:
    """Seconds until ``done()`` held (polled); fails after ``seconds``."""
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < seconds, "not seen in time"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_policy_change_on_one_host_reaches_the_other_within_the_check(two_hosts: tuple[Storage, Storage]) -> None:
    host_a, host_b = two_hosts
    before = host_b.project("demo")
    assert before is not None
    with host_a.engine.connect() as conn:
        text = conn.exec_driver_sql("SELECT policy_toml FROM project_policies").scalar_one()
    changed = text.replace('version = "', 'version = "9', 1)
    digest = host_a.set_policy("demo", changed)

    def seen() -> bool:
        record = host_b.project("demo")
        return record is not None and digest in record.policies

    waited = _within(5 * CHECK_S + 2.0, seen)
    assert waited < 30.0


def test_an_erasure_on_one_host_drops_the_others_group_cache(two_hosts: tuple[Storage, Storage],
                                                              make_report: Callable[..., Report]) -> None:
    host_a, host_b = two_hosts
    versions = CacheVersions(host_b.engine, check_s=CHECK_S)
    cache = TtlCache(60.0, version=lambda: versions.current(GROUPS))
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert (1, 1) == (cache.get("options", compute), cache.get("options", compute))
    report = make_report()
    host_a.store_report("demo", report, origin="crashveil-sdk", received_at=host_a._clock(), redaction_hits={},
                        dropped_fields=())
    host_a.process_deletion_request("demo", "req-1", [report.install_id or ""], now=host_a._clock())
    _within(5 * CHECK_S + 2.0, lambda: cache.get("options", compute) == 2)


def test_versions_are_read_at_most_once_per_check_period(two_hosts: tuple[Storage, Storage]) -> None:
    host_a, _ = two_hosts
    ticks = [100.0]
    versions = CacheVersions(host_a.engine, check_s=1.0, clock=lambda: ticks[0])
    first = versions.current(PROJECTS)
    host_a.rotate_project_keys("demo")
    stale = versions.current(PROJECTS)  # within the period: not read again
    ticks[0] += 1.0
    assert (first, first + 1) == (stale, versions.current(PROJECTS))
