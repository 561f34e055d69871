"""Roll-ups written with each batch: daily counts per (group, day, release, OS family),
install sketches per (group, day) and the dashboard's filter values. Hourly roll-ups and
redaction counters are plain counting upserts (``statements.upsert_counts``) written by
the report write path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.pg_arrays import ArrayLookup
from crashveil.server.db.rollup_tables import (
    FILTER_OS,
    FILTER_RELEASE,
    InstallSketch,
    group_daily_rollups,
    group_day_installs,
    project_filter_values,
)
from crashveil.server.storage.statements import bulk, in_chunks, in_tuple_keys

__all__ = ["DailyCount", "DayInstalls", "OldSketches", "daily_entries", "read_sketches", "write_daily"]

#: (group, day, release, OS family) of a daily roll-up row.
DailyKey: TypeAlias = tuple[int, str, str, str]
#: (group, day) of an install sketch.
DayKey: TypeAlias = tuple[int, str]
#: (project, kind, value) of a filter value.
FilterKey: TypeAlias = tuple[str, str, str]


@dataclass(slots=True)
class DailyCount:
    """What one batch adds to one daily roll-up row."""

    project_id: str
    count: int = 0
    counts_only: int = 0
    installs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DayInstalls:
    """The installs one batch adds to one (group, day) sketch."""

    project_id: str
    installs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class OldSketches:
    """The stored install sketches a batch merges into (:func:`read_sketches`)."""

    daily: dict[DailyKey, bytes | None] = field(default_factory=dict)
    day: dict[DayKey, bytes] = field(default_factory=dict)


def write_daily(conn: sa.Connection, daily: Mapping[DailyKey, DailyCount], day_installs: Mapping[DayKey, DayInstalls],
                filters: Mapping[FilterKey, str], old: OldSketches | None = None) -> None:
    """Add to the daily roll-ups, install sketches and filter values, in ``conn``'s transaction.

    ``filters``: (project, kind, value) -> the latest day seen. Sketches are read, merged and written back: callers hold
    the groups' row locks (PostgreSQL; ``Storage.store_reports`` does) or SQLite's write lock. ``old``: the sketches
    :func:`read_sketches` read before (then this only writes: ``statements.pipelined``), else they are read here.
    """
    if not daily:
        return
    if old is None:
        old = read_sketches(conn, daily, day_installs)
    _write_daily_rows(conn, daily, old.daily)
    if day_installs:
        _write_day_installs(conn, day_installs, old.day)
    _write_filter_values(conn, filters)


def read_sketches(conn: sa.Connection, daily: Mapping[DailyKey, DailyCount],
                  day_installs: Mapping[DayKey, DayInstalls]) -> OldSketches:
    """The stored sketches of the daily rows and (group, day) pairs that get installs."""
    old = OldSketches()
    with_installs = sorted(key for key, slot in daily.items() if slot.installs)
    keys = sorted(day_installs)
    if not db.is_sqlite(conn):
        old.daily.update({(r[0], r[1], r[2], r[3]): r[4] for r in _DAILY_OLD_PG(conn, with_installs)})
        old.day.update({(r[0], r[1]): r[2] for r in _DAY_INSTALLS_OLD_PG(conn, keys)})
        return old
    for _, stmt, params in in_chunks(conn, "daily-old", with_installs, _daily_old_stmt):
        old.daily.update({(r[0], r[1], r[2], r[3]): r[4] for r in db.fetch_all(conn, stmt, params)})
    for _, stmt, params in in_chunks(conn, "day-installs-old", keys, _day_installs_old_stmt):
        old.day.update({(r[0], r[1]): r[2] for r in db.fetch_all(conn, stmt, params)})
    return old


def _write_daily_rows(conn: sa.Connection, daily: Mapping[DailyKey, DailyCount],
                      old: Mapping[DailyKey, bytes | None]) -> None:
    """Add counts to ``group_daily_rollups``, merging each row's install sketch."""
    cols = group_daily_rollups.c
    values = []
    for key, slot in sorted(daily.items()):
        sketch = None
        if slot.installs:
            s = InstallSketch(old.get(key))
            for install in slot.installs:
                s.add(install)
            sketch = s.to_bytes()
        values.append(dict(group_id=key[0], day=key[1], release=key[2], os_family=key[3], project_id=slot.project_id,
                           count=slot.count, counts_only=slot.counts_only, installs=sketch))

    def daily_stmt(conn: sa.Connection) -> sa.Insert:
        stmt = db.dialect_insert(conn, group_daily_rollups)
        return stmt.on_conflict_do_update(
            index_elements=["group_id", "day", "release", "os_family"],
            set_={"count": cols.count + stmt.excluded.count,
                  "counts_only": cols.counts_only + stmt.excluded.counts_only,
                  "installs": sa.func.coalesce(stmt.excluded.installs, cols.installs)})

    bulk(conn, "daily-upsert", daily_stmt, values)


def _write_day_installs(conn: sa.Connection, day_installs: Mapping[DayKey, DayInstalls],
                        old_day: Mapping[DayKey, bytes]) -> None:
    """Merge the installs of each (group, day) into its ``group_day_installs`` sketch."""
    keys = sorted(day_installs)
    values = []
    for key in keys:
        entry = day_installs[key]
        s = InstallSketch(old_day.get(key))
        for install in entry.installs:
            s.add(install)
        values.append(dict(group_id=key[0], day=key[1], project_id=entry.project_id, installs=s.to_bytes()))

    def day_stmt(conn: sa.Connection) -> sa.Insert:
        stmt = db.dialect_insert(conn, group_day_installs)
        # A sketch the batch did not change is not rewritten (no page dirtied for the commit).
        return stmt.on_conflict_do_update(index_elements=["group_id", "day"],
                                          set_={"installs": stmt.excluded.installs},
                                          where=group_day_installs.c.installs.is_distinct_from(stmt.excluded.installs))

    bulk(conn, "day-installs-upsert", day_stmt, values)


def _write_filter_values(conn: sa.Connection, filters: Mapping[tuple[str, str, str], str]) -> None:
    """Record the latest day each (project, kind, value) of the dashboard's filters was seen."""
    fcols = project_filter_values.c

    def filter_stmt(conn: sa.Connection) -> sa.Insert:
        stmt = db.dialect_insert(conn, project_filter_values)
        # Only a later day is written: most batches change no filter value, and a row
        # rewritten with its own value still dirties its page for the commit.
        return stmt.on_conflict_do_update(index_elements=["project_id", "kind", "value"],
                                          set_={"last_seen": stmt.excluded.last_seen},
                                          where=stmt.excluded.last_seen > fcols.last_seen)

    bulk(conn, "filter-upsert", filter_stmt,
         [dict(project_id=k[0], kind=k[1], value=k[2], last_seen=day) for k, day in sorted(filters.items())])


def daily_entries(entries: Sequence[tuple[str, int, str, str, str, int, int, Sequence[str]]]
                  ) -> tuple[dict[DailyKey, DailyCount], dict[DayKey, DayInstalls], dict[FilterKey, str]]:
    """``write_daily``'s arguments from (project, group, hour, release, OS family, count,
    counts-only count, install ids) entries (for loaders and test seeders)."""
    daily: dict[DailyKey, DailyCount] = {}
    day_installs: dict[DayKey, DayInstalls] = {}
    filters: dict[FilterKey, str] = {}
    for project_id, group_id, hour, release, os_family, count, counts_only, installs in entries:
        day = hour[:10]
        key = (group_id, day, release, os_family)
        slot = daily.get(key)
        if slot is None:
            slot = daily[key] = DailyCount(project_id)
        slot.count += count
        slot.counts_only += counts_only
        slot.installs.extend(installs)
        if installs:
            per_day = day_installs.get((group_id, day))
            if per_day is None:
                per_day = day_installs[(group_id, day)] = DayInstalls(project_id)
            per_day.installs.extend(installs)
        for kind, value in ((FILTER_RELEASE, release), (FILTER_OS, os_family)):
            if filters.get((project_id, kind, value), "") < day:
                filters[(project_id, kind, value)] = day
    return daily, day_installs, filters


#: PostgreSQL's reads of the sketches a batch merges into: one primary-key probe per key (``ArrayLookup``).
_DAILY_OLD_PG = ArrayLookup(group_daily_rollups, ["group_id", "day", "release", "os_family"],
                            ["group_id", "day", "release", "os_family", "installs"])
_DAY_INSTALLS_OLD_PG = ArrayLookup(group_day_installs, ["group_id", "day"], ["group_id", "day", "installs"])


def _daily_old_stmt(size: int) -> sa.Select[Any]:
    c = group_daily_rollups.c
    return (sa.select(c.group_id, c.day, c.release, c.os_family, c.installs)
            .where(sa.tuple_(c.group_id, c.day, c.release, c.os_family).in_(in_tuple_keys(size, 4))))


def _day_installs_old_stmt(size: int) -> sa.Select[Any]:
    c = group_day_installs.c
    return sa.select(c.group_id, c.day, c.installs).where(sa.tuple_(c.group_id, c.day).in_(in_tuple_keys(size, 2)))
