"""Daily roll-ups, install sketches and filter values (migration 0005): kept at ingest in the
reports' transaction, read by the group list, pruned by retention."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from _migrated import migrated_sqlite

from crashveil.server.dashboard import queries as q
from crashveil.server.db.rollup_tables import (
    InstallSketch,
    group_daily_rollups,
    group_day_installs,
    honest_count,
    project_filter_values,
    union,
)

from .conftest import NOW, _report


def _storage(tmp_path: Path, clock: list) -> object:
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    url = migrated_sqlite(tmp_path / "r.db")
    settings = Settings(server_dir=tmp_path, database_url=url, sealing_suite="x25519", project_cache_s=0.0,
                        quasi_identifier_check=False)  # seeds single installations
    FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=400))
    storage = Storage.open(settings, clock=lambda: clock[0])
    storage.create_project("demo", now=NOW - timedelta(days=400))
    return storage


def test_sketch_union_is_register_max_and_small_counts_are_close() -> None:
    rng = random.Random(7)
    a, b = InstallSketch(), InstallSketch()
    for _ in range(300):
        a.add(f"{rng.getrandbits(128):032x}")
        b.add(f"{rng.getrandbits(128):032x}")
    assert bytes(map(max, a.registers, b.registers)) == union([a.to_bytes(), None, b.to_bytes()])
    for n in (1, 2, 4, 5, 9, 30):
        s = InstallSketch()
        for i in range(n):
            s.add(f"{i:032x}")
            s.add(f"{i:032x}")  # twice: counted once
        assert (n == honest_count(s.registers, 5)) if n < 10 else abs(n - honest_count(s.registers, 5)) <= 2


def test_k_threshold_is_honest() -> None:
    """Below k certain installations the count is a lower bound below k (hidden), never an estimate."""
    s = InstallSketch()
    for i in range(4):
        s.add(f"{i:032x}")
    assert honest_count(s.registers, 5) < 5
    assert honest_count(None, 5) == 0


def test_large_counts_are_within_error() -> None:
    s = InstallSketch()
    rng = random.Random(3)
    for _ in range(20_000):
        s.add(f"{rng.getrandbits(128):032x}")
    assert abs(honest_count(s.registers, 5) - 20_000) < 20_000 * 0.15


def test_batch_store_keeps_daily_rollups_and_list_reads_them(tmp_path: Path) -> None:
    from crashveil.server.storage.records import PendingReport

    clock = [NOW]
    storage = _storage(tmp_path, clock)
    # Fixed install ids: the sketch is exact for these six (random ids could share a register,
    # which the sketch then counts once, and this test is about storage, not sketch accuracy).
    installs = [f"{i:02x}" * 16 for i in range(1, 7)]
    batch = []
    for day in (0, 1, 3):
        for i, install in enumerate(installs):
            when = NOW - timedelta(days=day, hours=i % 3)
            report = _report("KeyError", "load", release=f"1.{day}", os_family="linux" if i % 2 else "windows",
                             install=install, message=None, hour=when)
            batch.append(PendingReport("demo", report, "crashveil-sdk", when, {}, ()))
    batch.append(batch[0])  # a duplicate in the batch
    results = storage.store_reports(batch)
    assert results[-1].receipt == results[0].receipt and not results[-1].created
    with storage.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(group_daily_rollups.c.count))).scalar_one()
        assert 18 == total
        rows = q.list_groups(conn, "demo", q.GroupFilter(range="7d"), now=NOW)
        assert [(18, 6)] == [(r.count, r.installs) for r in rows]
        rows = q.list_groups(conn, "demo", q.GroupFilter(range="7d", release="1.1", os_family="linux"), now=NOW)
        assert [(3, 3)] == [(r.count, r.installs) for r in rows]
        releases, families = q.filter_options(conn, "demo", now=NOW)
        assert (["1.3", "1.1", "1.0"], ["linux", "windows"]) == (releases, families)
    storage.close()


@pytest.mark.parametrize("dry_run", [True, False])
def test_retention_prunes_daily_rollups(tmp_path: Path, dry_run: bool) -> None:
    """Daily roll-ups, sketches and filter values go after rollup_retention_days (365 by default)."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.governance.retention import run_retention

    clock = [NOW]
    storage = _storage(tmp_path, clock)
    for back, release in ((100, "1.0"), (1, "2.0")):
        when = NOW - timedelta(days=back)
        storage.store_report("demo", _report("KeyError", "load", release=release, os_family="linux",
                                             install=uuid.uuid4().hex, message=None, hour=when),
                             origin="crashveil-sdk", received_at=when, redaction_hits={}, dropped_fields=())
    later = NOW + timedelta(days=300)
    result = run_retention(storage, AuditTrail.for_server_dir(storage.engine, tmp_path, now=lambda: later),
                           now=later, dry_run=dry_run)
    with storage.engine.connect() as conn:
        left = [conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (group_daily_rollups, group_day_installs)]
        values = sorted(conn.execute(sa.select(project_filter_values.c.value)
                                     .where(project_filter_values.c.kind == "release")).scalars())
    # 1.0 was seen 400 days before `later`: its day, sketch, filter value and runtime and environment
    # day counts (migration 0016) go; 2.0 stays.
    assert 5 == result.projects[0].daily_rollups_deleted
    assert ([2, 2], ["1.0", "2.0"]) == (left, values) if dry_run else ([1, 1], ["2.0"]) == (left, values)
    storage.close()


def test_erased_installations_leave_the_sketches_when_rebuilt(engine, seed) -> None:
    """After an installation's reports are deleted, rebuilding the sketches of the (group, day)
    pairs they were in counts only the installations left, in the group page and the list."""
    from crashveil.server.db.rollup_tables import _register, rebuild_install_sketches
    from crashveil.server.db.tables import reports

    installs, taken, i = [], set(), 0
    while len(installs) < 4:  # on distinct registers: the sketch is exact
        install = f"{i:032x}"
        if _register(install)[0] not in taken:
            taken.add(_register(install)[0])
            installs.append(install)
        i += 1
    erased, *kept = installs
    seed.project("p1")
    gid = seed.group("p1", "fp")
    seed.reports("p1", gid, when=NOW - timedelta(days=2), count=2, installs=[erased], release="1.0")  # erased only
    seed.reports("p1", gid, when=NOW - timedelta(hours=1), count=4, installs=[erased, *kept], release="1.1")
    since = q.hour_key(NOW - timedelta(days=30))
    with engine.begin() as conn:
        pairs = {(g, h[:10]) for g, h in conn.execute(sa.select(reports.c.group_id, reports.c.hour).where(
            reports.c.install_id == erased))}
        conn.execute(reports.delete().where(reports.c.install_id == erased))
        stale = q.group_installs(conn, gid, since=since, min_k=1)
        rebuilt = rebuild_install_sketches(conn, pairs)
    with engine.connect() as conn:
        page = q.group_installs(conn, gid, since=since, min_k=1)
        listed = [r.installs for r in q.list_groups(conn, "p1", q.GroupFilter(range="7d", release="1.1"), now=NOW)]
        days = sorted(conn.execute(sa.select(group_day_installs.c.day).where(group_day_installs.c.group_id == gid))
                      .scalars())
        nulls = conn.execute(sa.select(sa.func.count()).where(group_daily_rollups.c.group_id == gid,
                                                              group_daily_rollups.c.installs.is_(None))).scalar_one()
    assert (4, 2, 3, [3], [q.hour_key(NOW - timedelta(hours=1))[:10]], 1) == (stale, rebuilt, page, listed, days,
                                                                               nulls)
