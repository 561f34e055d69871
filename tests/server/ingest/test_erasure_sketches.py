"""Erasure and the install sketches: an erased installation stops counting as a distinct
installation on the dashboard (group list and group page) as soon as its reports are deleted.

The reports go through ``Storage.store_reports`` (the ingest write path, which keeps the
sketches); the erasure is a sealed deletion request posted to the app (``Ingestor.delete`` ->
``erase_installs`` -> ``Storage.process_deletion_request``). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.dashboard import queries as q
from crashveil.server.db.rollup_tables import InstallSketch, _register, group_daily_rollups, group_day_installs
from crashveil.server.db.tables import crash_groups, group_rollups
from crashveil.wire import Report
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

from ..conftest import NOW

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)  # StarletteDeprecationWarning is a UserWarning
    from starlette.testclient import TestClient

from crashveil.server.http.app import create_app

DELETIONS = "/api/v1/projects/demo/deletion-requests"
DAY0, DAY1, DAY2 = "2026-04-29", "2026-04-30", "2026-05-01"  # NOW is 2026-05-01 12:30Z


def _installs(n: int) -> list[str]:
    """``n`` pseudonyms on distinct sketch registers, so the sketches count them exactly."""
    found: list[str] = []
    taken: set[int] = set()
    i = 0
    while len(found) < n:
        install = f"{i:032x}"
        if _register(install)[0] not in taken:
            taken.add(_register(install)[0])
            found.append(install)
        i += 1
    return found


def _store(storage: Any, report: Report, day: str, hour: int) -> None:
    occurred = f"{day}T{hour:02d}:00Z"
    storage.store_report("demo", dataclasses.replace(report, occurred_hour=occurred), origin="crashveil-sdk",
                         received_at=datetime.fromisoformat(occurred.replace("Z", "+00:00")) + timedelta(minutes=30),
                         redaction_hits={}, dropped_fields=())


def _sketches(storage: Any) -> dict[tuple[Any, ...], bytes | None]:
    """Every stored sketch: (table, group, day[, release, OS family]) -> bytes."""
    with storage.engine.connect() as conn:
        coarse = {("day", r.group_id, r.day): r.installs for r in conn.execute(sa.select(group_day_installs))}
        fine = {("daily", r.group_id, r.day, r.release, r.os_family): r.installs
                for r in conn.execute(sa.select(group_daily_rollups))}
    return {**coarse, **fine}


def _figures(storage: Any, group_id: int) -> tuple[int, int, int]:
    """Distinct installations of ``group_id`` as the dashboard reads them: the group list (all
    releases, and filtered by release 1.0.0) and the group page."""
    with storage.engine.connect() as conn:
        listed = {r.id: r.installs for r in q.list_groups(conn, "demo", q.GroupFilter(range="7d"), now=NOW)}
        filtered = {r.id: r.installs for r in q.list_groups(conn, "demo", q.GroupFilter(range="7d", release="1.0.0"),
                                                           now=NOW)}
        page = q.group_installs(conn, group_id, since=q.hour_key(NOW - timedelta(days=30)),
                                min_k=storage.project("demo").policy.aggregation.min_k)
    return listed[group_id], filtered[group_id], page


def _sketch_of(*installs: str) -> bytes:
    sketch = InstallSketch()
    for install in installs:
        sketch.add(install)
    return sketch.to_bytes()


def test_erased_install_leaves_the_distinct_install_counts(settings: Any, storage: Any,
                                                           make_report: Callable[..., Report]) -> None:
    """3 installations of a group over 2 days count 3; after one is erased through the
    deletion-request flow, the group list and the group page count 2, the rebuilt sketches are
    those of the installations left, and the sketches of other groups and days are unchanged."""
    erased, kept1, kept2 = _installs(3)
    # Group A: the erased installation on two days, with the others; a third day without it.
    for day, installs in ((DAY1, (erased, kept1)), (DAY2, (erased, kept1, kept2)), (DAY0, (kept1,))):
        for hour, install in enumerate(installs, start=8):
            _store(storage, make_report(install_id=install), day, hour)
    # Group B (another stack): never saw the erased installation.
    for install in (kept1, kept2):
        _store(storage, make_report(install_id=install, function="save"), DAY2, 9)
    with storage.engine.connect() as conn:
        group_a, group_b = conn.execute(sa.select(crash_groups.c.id).order_by(crash_groups.c.id)).scalars().all()
    before = _sketches(storage)
    assert (3, 3, 3) == _figures(storage, group_a)

    client = TestClient(create_app(settings, storage, now=lambda: NOW))
    project = storage.project("demo")
    sealed = seal_report(f'{{"request_id": "{uuid.uuid4()}", "install_ids": ["{erased}"]}}'.encode(),
                         project.keypairs[0].public_key(), project_id="demo", schema_version=1)
    response = client.post(DELETIONS, content=sealed,
                           headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    assert 202 == response.status_code

    after = _sketches(storage)
    assert (2, 2, 2) == _figures(storage, group_a)
    assert (2, 2) == _figures(storage, group_b)[:2]
    rebuilt = {key for key in before if key[1] == group_a and key[2] in (DAY1, DAY2)}
    assert {key: before[key] for key in before if key not in rebuilt} == \
        {key: after[key] for key in after if key not in rebuilt}
    assert {("day", group_a, DAY1): _sketch_of(kept1), ("day", group_a, DAY2): _sketch_of(kept1, kept2),
            ("daily", group_a, DAY1, "1.0.0", "linux"): _sketch_of(kept1),
            ("daily", group_a, DAY2, "1.0.0", "linux"): _sketch_of(kept1, kept2)} == \
        {key: after[key] for key in rebuilt}


def test_erased_install_leaves_the_group_triage_state(settings: Any, storage: Any,
                                                      make_report: Callable[..., Report]) -> None:
    """The group list's all-time columns (migration 0013) lose the erased installation in the
    erasure's transaction: installs and their sketch, the event total, today's and yesterday's
    counts, first/last seen, and the hourly and daily roll-up counts. On SQLite and PostgreSQL."""
    erased, kept = _installs(2)
    _store(storage, make_report(install_id=erased), DAY1, 6)
    for hour in (8, 9):
        _store(storage, make_report(install_id=kept), DAY2, hour)
    _store(storage, make_report(install_id=erased), DAY2, 11)
    columns = (crash_groups.c.install_count, crash_groups.c.installs, crash_groups.c.total_count,
               crash_groups.c.day_count, crash_groups.c.prev_day_count, crash_groups.c.trend,
               crash_groups.c.first_seen, crash_groups.c.last_seen)
    with storage.engine.connect() as conn:
        before = conn.execute(sa.select(*columns)).one()
    assert (2, _sketch_of(erased, kept), 4, 3, 1, 2) == tuple(before[:6])

    client = TestClient(create_app(settings, storage, now=lambda: NOW))
    project = storage.project("demo")
    sealed = seal_report(f'{{"request_id": "{uuid.uuid4()}", "install_ids": ["{erased}"]}}'.encode(),
                         project.keypairs[0].public_key(), project_id="demo", schema_version=1)
    response = client.post(DELETIONS, content=sealed,
                           headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    assert 202 == response.status_code

    with storage.engine.connect() as conn:
        after = conn.execute(sa.select(*columns)).one()
        hourly = conn.execute(sa.select(group_rollups.c.hour, group_rollups.c.count)
                              .order_by(group_rollups.c.hour)).all()
        daily = conn.execute(sa.select(group_daily_rollups.c.day, group_daily_rollups.c.count)).all()
    assert ([(f"{DAY2}T08:00Z", 1), (f"{DAY2}T09:00Z", 1)], [(DAY2, 2)]) == ([tuple(r) for r in hourly],
                                                                     [tuple(r) for r in daily])
    received = [datetime.fromisoformat(f"{DAY2}T{hour:02d}:30+00:00") for hour in (8, 9)]
    assert (1, _sketch_of(kept), 2, 2, 0, 2, *received) == tuple(after)
