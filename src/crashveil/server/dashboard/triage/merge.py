"""Merging crash groups into one, and taking a merged group out again.

A merge moves everything counted of each merged ("secondary") group into the primary: its
reports (each keeps its own fingerprint), hourly and daily roll-ups (counts added, install
sketches united), day install sketches, facets, and the group's own totals (reports, all-time
installs, first and last seen, today's and yesterday's counts, the latest message template).
The secondary stays as an empty row with ``merged_into`` set: ingest sends later reports of
its fingerprint to the primary (``storage.triage.follow_merges``), and its page links there.
Groups merged into a secondary follow it to the new primary (one hop, never a chain).

Unmerge clears ``merged_into``: reports of that fingerprint go to their own group again
from then on. What was counted before stays with the primary: roll-ups and install
sketches are kept per group, not per fingerprint, so they cannot be split after the fact.

Everything happens in one write transaction with the audit entry; the groups are locked in
id order (as ingest locks them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import BadTriageAction, NotFound
from crashveil.server.dashboard.queries import MAX_ID
from crashveil.server.dashboard.triage.actions import locked_group
from crashveil.server.db import engine as db
from crashveil.server.db.rollup_tables import group_daily_rollups, group_day_installs, union
from crashveil.server.db.tables import crash_groups, group_credential_hours, group_rollups, reports
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.ingest import grouping
from crashveil.server.storage.statements import upsert_counts
from crashveil.server.storage.triage import install_count

__all__ = ["MAX_MERGED", "merge_groups", "merged_groups", "unmerge_group"]

#: The most groups merged into one at once.
MAX_MERGED = 20
_EMPTY = dict(total_count=0, install_count=0, installs=None, day_count=0, prev_day_count=0, trend=0, hour_count=0,
              hour_weight=0)


def merge_groups(engine: Engine, audit: AuditTrail, project_id: str, primary_id: int, others: Sequence[int], *,
                 actor: str) -> None:
    """Merge the groups ``others`` of ``project_id`` into ``primary_id`` (see the module docstring).

    Raises:
        BadTriageAction: no other group, too many, the primary among them, or a group that
            is itself merged.
        NotFound: a group is not in the project.
    """
    others = sorted(set(others))
    if not others or len(others) > MAX_MERGED or primary_id in others:
        raise BadTriageAction("groups", f"1 to {MAX_MERGED} group numbers other than this group")
    ids = sorted([primary_id, *others])
    if not all(0 < gid <= MAX_ID for gid in ids):
        raise NotFound
    with db.write_tx(engine) as conn:
        rows = _lock(conn, project_id, ids)
        if any(row["merged_into"] is not None for row in rows.values()):
            raise BadTriageAction("groups", "groups that are not merged into another group already")
        primary = rows[primary_id]
        for gid in others:
            _move_counts(conn, project_id, primary_id, gid)
            _combine(primary, rows[gid])
        conn.execute(crash_groups.update().where(crash_groups.c.id == primary_id).values(
            {name: primary[name] for name in _COMBINED}))
        conn.execute(crash_groups.update().where(crash_groups.c.id.in_(others)).values(merged_into=primary_id,
                                                                                       **_EMPTY))
        conn.execute(crash_groups.update().where(crash_groups.c.merged_into.in_(others))
                     .values(merged_into=primary_id))
        audit.record("group.merge", actor=actor, project_id=project_id, subject=f"group:{primary_id}",
                     detail={"merged": others}, conn=conn)
    audit.checkpoint()


def unmerge_group(engine: Engine, audit: AuditTrail, project_id: str, group_id: int, *, actor: str) -> int:
    """Take ``group_id`` out of the group it was merged into (returned); it is open again."""
    with db.write_tx(engine) as conn:
        row = locked_group(conn, project_id, group_id)
        if row.merged_into is None:
            raise BadTriageAction("group", "a group that was merged into another")
        conn.execute(crash_groups.update().where(crash_groups.c.id == group_id).values(
            merged_into=None, status=grouping.OPEN, resolved_in=None, resolved_after=None, ignored_until=None,
            ignored_until_count=None, ignored_until_release=None))
        audit.record("group.unmerge", actor=actor, project_id=project_id, subject=f"group:{group_id}",
                     detail={"from": int(row.merged_into)}, conn=conn)
    audit.checkpoint()
    return int(row.merged_into)


def merged_groups(conn: Connection, group_id: int) -> list[tuple[int, str]]:
    """(id, crash type) of the groups merged into ``group_id``."""
    return [(int(gid), str(kind)) for gid, kind in conn.execute(
        sa.select(crash_groups.c.id, crash_groups.c.crash_type).where(crash_groups.c.merged_into == group_id)
        .order_by(crash_groups.c.id))]


def _lock(conn: Connection, project_id: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    stmt = (sa.select(crash_groups).where(crash_groups.c.project_id == project_id, crash_groups.c.id.in_(ids))
            .order_by(crash_groups.c.id))
    rows = {row.id: dict(row._mapping) for row in conn.execute(stmt if db.is_sqlite(conn) else stmt.with_for_update())}
    if len(rows) != len(ids):
        raise NotFound
    return rows


def _move_counts(conn: Connection, project_id: str, primary: int, secondary: int) -> None:
    """Move the reports, roll-ups, install sketches and facets of ``secondary`` to ``primary``."""
    conn.execute(reports.update().where(reports.c.group_id == secondary).values(group_id=primary))
    hourly = [dict(row._mapping, group_id=primary) for row in
              conn.execute(sa.select(group_rollups).where(group_rollups.c.group_id == secondary))]
    upsert_counts(conn, group_rollups, ["group_id", "hour", "release", "os_family"], hourly, ("count", "counts_only"))
    conn.execute(group_rollups.delete().where(group_rollups.c.group_id == secondary))
    _move_sketches(conn, group_daily_rollups, ("day", "release", "os_family"), primary, secondary)
    _move_sketches(conn, group_day_installs, ("day",), primary, secondary)
    facets = [dict(group_id=primary, kind=kind, value=value, project_id=project_id) for kind, value in conn.execute(
        sa.select(group_facets.c.kind, group_facets.c.value).where(group_facets.c.group_id == secondary))]
    if facets:
        conn.execute(db.dialect_insert(conn, group_facets).on_conflict_do_nothing(
            index_elements=["group_id", "kind", "value"]), facets)
    for table in (group_facets, group_credential_hours):
        conn.execute(table.delete().where(table.c.group_id == secondary))


def _move_sketches(conn: Connection, table: sa.Table, key: tuple[str, ...], primary: int, secondary: int) -> None:
    """Add ``secondary``'s rows of ``table`` to ``primary``'s: counts summed, sketches united."""
    moving = [dict(row._mapping) for row in conn.execute(sa.select(table).where(table.c.group_id == secondary))]
    if not moving:
        return
    days = sorted({row["day"] for row in moving})
    have = {tuple(row._mapping[k] for k in key): dict(row._mapping) for row in conn.execute(
        sa.select(table).where(table.c.group_id == primary, table.c.day.in_(days)))}
    conn.execute(table.delete().where(table.c.group_id == secondary))
    for row in moving:
        where = tuple(row[k] for k in key)
        mine = have.get(where)
        if mine is None:
            conn.execute(table.insert().values(dict(row, group_id=primary)))
            continue
        values: dict[str, Any] = {"installs": _united(mine["installs"], row["installs"])}
        for name in ("count", "counts_only"):
            if name in row:
                values[name] = mine[name] + row[name]
        conn.execute(table.update().where(table.c.group_id == primary, *(table.c[k] == row[k] for k in key))
                     .values(values))


def _united(a: bytes | None, b: bytes | None) -> bytes | None:
    """Two install sketches united (None: neither has one)."""
    return a if b is None else b if a is None else union([a, b])


#: The primary's columns a merge recomputes.
_COMBINED = ("total_count", "first_seen", "first_release", "last_seen", "last_release", "installs", "install_count",
             "day_key", "day_count", "prev_day_count", "trend", "hour_key", "hour_count", "hour_weight",
             "title_message", "title_message_at", "culprit", "search_code")


def _combine(primary: dict[str, Any], other: dict[str, Any]) -> None:
    """Add ``other``'s totals to ``primary`` (both ``crash_groups`` rows as dicts)."""
    primary["total_count"] += other["total_count"]
    if other["first_seen"] < primary["first_seen"]:
        primary["first_seen"], primary["first_release"] = other["first_seen"], other["first_release"]
    if other["last_seen"] > primary["last_seen"]:
        primary["last_seen"], primary["last_release"] = other["last_seen"], other["last_release"]
    sketch = _united(primary["installs"], other["installs"])
    if sketch is not None:
        primary["installs"], primary["install_count"] = sketch, install_count(sketch)
    _combine_days(primary, other)
    if other["hour_key"] is not None and (primary["hour_key"] is None or other["hour_key"] >= primary["hour_key"]):
        same = other["hour_key"] == primary["hour_key"]
        primary["hour_count"] = other["hour_count"] + (primary["hour_count"] if same else 0)
        primary["hour_weight"] = other["hour_weight"] + (primary["hour_weight"] if same else 0)
        primary["hour_key"] = other["hour_key"]
    if other["title_message_at"] is not None and (primary["title_message_at"] is None
                                                  or other["title_message_at"] > primary["title_message_at"]):
        primary["title_message"], primary["title_message_at"] = other["title_message"], other["title_message_at"]
    if primary["culprit"] is None:
        primary["culprit"], primary["search_code"] = other["culprit"], other["search_code"]


def _combine_days(primary: dict[str, Any], other: dict[str, Any]) -> None:
    """Today's and yesterday's counts (the trend) of both groups, on the newer day."""
    per_day: dict[str, int] = {}
    for row in (primary, other):
        if row["day_key"] is not None:
            day = row["day_key"]
            before = (datetime.strptime(day, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
            per_day[day] = per_day.get(day, 0) + (row["day_count"] or 0)
            per_day[before] = per_day.get(before, 0) + (row["prev_day_count"] or 0)
    if not per_day:
        return
    newest = max(day for day in (primary["day_key"], other["day_key"]) if day is not None)
    before = (datetime.strptime(newest, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
    primary.update(day_key=newest, day_count=per_day[newest], prev_day_count=per_day.get(before, 0))
    primary["trend"] = primary["day_count"] - primary["prev_day_count"]
