"""Triage actions against the ingest path, on SQLite and PostgreSQL: resolve now / in the next
release and regression, ignore until a date / a count / a new release and its end, merge and
unmerge (reports of a merged fingerprint counted on the primary), each audited with its actor."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.server.dashboard.triage import actions, merge
from crashveil.server.db.rollup_tables import group_daily_rollups
from crashveil.server.db.tables import crash_groups, group_rollups, reports
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.storage.store import Storage
from crashveil.wire import Report

from ..conftest import NOW

ACTOR = "user:7"


@pytest.fixture
def audit(storage: Storage, tmp_path: Path) -> AuditTrail:
    return AuditTrail.for_server_dir(storage.engine, tmp_path, now=lambda: NOW)


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def _store(storage: Storage, make_report: Callable[..., Report], *, function: str = "load", release: str = "1.0.0",
           at: datetime = NOW, occurred: datetime | None = None) -> int:
    report = dataclasses.replace(make_report(function=function, release=release),
                                 occurred_hour=_hour(occurred or at))
    return storage.store_report("demo", report, origin="crashveil-sdk", received_at=at, redaction_hits={},
                                dropped_fields=()).group_id


def _row(storage: Storage, group_id: int) -> Any:
    with storage.engine.connect() as conn:
        return conn.execute(sa.select(crash_groups).where(crash_groups.c.id == group_id)).one()


def _change(group_id: int, status: str, at: datetime = NOW, **extra: Any) -> actions.StatusChange:
    return actions.StatusChange("demo", group_id, status, ACTOR, at, **extra)


def test_resolve_in_the_next_release_regresses_only_after_the_newest(storage, make_report, audit) -> None:
    """"Next release" is the release after the project's newest (PEP 440 order, not arrival):
    reports of that release or older are stragglers; a later one regresses, audited with the actor."""
    gid = _store(storage, make_report, release="1.10.0")
    _store(storage, make_report, function="other", release="1.9.0", at=NOW + timedelta(minutes=1))
    with storage.engine.connect() as conn:
        newest = actions.newest_release(conn, "demo")
    actions.apply_status(storage.engine, audit, _change(gid, "resolved", resolved_after=newest))
    _store(storage, make_report, release="1.10.0", at=NOW + timedelta(hours=1))
    straggled = _row(storage, gid).status
    _store(storage, make_report, release="1.11.0", at=NOW + timedelta(hours=2))
    row = _row(storage, gid)
    (entry,) = audit.entries(actions=["group.status"])
    assert ("1.10.0", "resolved", "regressed", "1.11.0", ACTOR, f"group:{gid}", "1.10.0") == (
        newest, straggled, row.status, row.regressed_in, entry.actor, entry.subject, entry.details["resolved_after"])


def test_resolve_now_keeps_late_old_crashes_and_regresses_on_a_new_one(storage, make_report, audit) -> None:
    """Resolved now: a crash that happened before the resolve (queued, sent late) changes
    nothing; one that happened after regresses the group. Fixed in 1.2: a 1.2 crash regresses."""
    gid = _store(storage, make_report)
    other = _store(storage, make_report, function="fixed_in")
    actions.apply_status(storage.engine, audit, _change(gid, "resolved", at=NOW + timedelta(hours=3)))
    actions.apply_status(storage.engine, audit, _change(other, "resolved", resolved_in="1.2"))
    _store(storage, make_report, at=NOW + timedelta(hours=4), occurred=NOW)
    late = _row(storage, gid).status
    _store(storage, make_report, at=NOW + timedelta(hours=5))
    _store(storage, make_report, function="fixed_in", release="1.1", at=NOW + timedelta(hours=5))
    older = _row(storage, other).status
    _store(storage, make_report, function="fixed_in", release="1.2", at=NOW + timedelta(hours=6))
    assert ("resolved", "regressed", "resolved", "regressed") == (late, _row(storage, gid).status, older,
                                                                  _row(storage, other).status)


def test_ignores_end_on_their_count_date_and_release(storage, make_report, audit) -> None:
    """An ignore for 2 more reports ends on the second; until a date, on the first report
    after it or when the page reads after it; until a new release, on a later release only."""
    counted = _store(storage, make_report, function="counted")
    dated = _store(storage, make_report, function="dated")
    timed = _store(storage, make_report, function="timed")
    released = _store(storage, make_report, function="released", release="2.0")
    until = NOW + timedelta(days=2)
    actions.apply_status(storage.engine, audit, _change(counted, "ignored", ignored_for=2))
    actions.apply_status(storage.engine, audit, _change(dated, "ignored", ignored_until=until))
    actions.apply_status(storage.engine, audit, _change(timed, "ignored", ignored_until=until))
    actions.apply_status(storage.engine, audit, _change(released, "ignored", ignored_until_release="2.0"))
    states = []
    for step, moment in enumerate((NOW + timedelta(hours=1), NOW + timedelta(days=3))):
        _store(storage, make_report, function="counted", at=moment)
        _store(storage, make_report, function="dated", at=moment)
        _store(storage, make_report, function="released", release="2.0" if step == 0 else "2.1", at=moment)
        states.append(tuple(_row(storage, gid).status for gid in (counted, dated, released)))
    expired = actions.expire_ignores(storage.engine, "demo", NOW + timedelta(days=3))
    ended = tuple(_row(storage, gid).ignore_ended for gid in (counted, dated, timed, released))
    assert ([("ignored", "ignored", "ignored"), ("open", "open", "open")], 1, ("count", "date", "date", "release"),
            "open") == (states, expired, ended, _row(storage, timed).status)


def _rollup_total(storage: Storage, table: sa.Table, group_id: int) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(table.c.count), 0))
                                .where(table.c.group_id == group_id)).scalar_one())


def test_merge_counts_on_the_primary_and_unmerge_splits_new_reports(storage, make_report, audit) -> None:
    """Merging moves reports, roll-ups and facets to the primary and adds the totals; a later
    report of the merged fingerprint counts on the primary; after the unmerge it counts on
    its own group again, while the past stays with the primary. Both audited."""
    primary = _store(storage, make_report, function="primary", release="1.0")
    _store(storage, make_report, function="primary", release="1.0", at=NOW + timedelta(minutes=5))
    merged = _store(storage, make_report, function="merged", release="1.1", at=NOW + timedelta(hours=1))
    merge.merge_groups(storage.engine, audit, "demo", primary, [merged], actor=ACTOR)
    after_merge = _store(storage, make_report, function="merged", release="1.2", at=NOW + timedelta(hours=2))
    row, gone = _row(storage, primary), _row(storage, merged)
    with storage.engine.connect() as conn:
        facets = sorted(conn.execute(sa.select(group_facets.c.value).where(
            group_facets.c.group_id == primary, group_facets.c.kind == "release")).scalars())
        moved = conn.execute(sa.select(sa.func.count()).select_from(reports).where(
            reports.c.group_id == primary)).scalar_one()
    rolled = (_rollup_total(storage, group_rollups, primary), _rollup_total(storage, group_daily_rollups, primary))
    merged_state = (after_merge, row.total_count, gone.total_count, gone.merged_into, facets, moved, *rolled)
    back = merge.unmerge_group(storage.engine, audit, "demo", merged, actor=ACTOR)
    own = _store(storage, make_report, function="merged", release="1.2", at=NOW + timedelta(hours=3))
    entries = [(e.action, e.actor, e.subject) for e in audit.entries(actions=["group.merge", "group.unmerge"])]
    assert ((primary, 4, 0, primary, ["1.0", "1.1", "1.2"], 4, 4, 4), primary, merged, 4, 1) == (
        merged_state, back, own, _row(storage, primary).total_count, _row(storage, merged).total_count)
    assert [("group.merge", ACTOR, f"group:{primary}"), ("group.unmerge", ACTOR, f"group:{merged}")] == entries


def test_retention_keeps_a_merged_group_while_its_primary_exists(storage, make_report, audit) -> None:
    """A merged group is an empty row, but retention keeps it while its primary exists: it is
    what routes its fingerprint's reports to the primary."""
    from crashveil.server.governance.retention import run_retention

    primary = _store(storage, make_report, function="primary")
    merged = _store(storage, make_report, function="merged", at=NOW - timedelta(days=400))
    merge.merge_groups(storage.engine, audit, "demo", primary, [merged], actor=ACTOR)
    run_retention(storage, audit, now=NOW + timedelta(hours=1))
    later = _store(storage, make_report, function="merged", at=NOW + timedelta(hours=2))
    assert (primary, primary) == (_row(storage, merged).merged_into, later)
