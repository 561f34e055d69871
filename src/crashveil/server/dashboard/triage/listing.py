"""The group list's SQL: one page of a project's groups, filtered, searched, sorted, by keyset.

Reads ``crash_groups`` (the columns of migration 0013, written at ingest), ``group_facets``
for the release / environment / platform / OS filters and the releases shown, and the daily
roll-ups of the page's groups for their sparklines; never a report, never a decryption.

Each sort reads an index range of ``crash_groups`` (``db.triage_tables``) and a page starts
after the previous page's last (value, id) pair (a row-value comparison), so page 100 costs
what page 1 does. The trend sort ranks the groups seen today by today's reports minus
yesterday's (``trend``, kept at ingest): a group not seen today is not trending. A search
(``triage.search``) first takes the matching ids from the engine's trigram index when
there are few.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.dashboard.triage import search
from crashveil.server.dashboard.triage.params import UNASSIGNED, Cursor, ListQuery
from crashveil.server.dashboard.triage.titles import TitleRules
from crashveil.server.db.rollup_tables import group_daily_rollups
from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.ingest.grouping import release_is_after

__all__ = ["SPARK_DAYS", "GroupPage", "ListedGroup", "list_page"]

#: Days of each row's sparkline.
SPARK_DAYS = 14
_RELEASES_SHOWN = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_c = crash_groups.c


@dataclass(frozen=True)
class ListedGroup:
    """One row of the list; ``message`` and ``culprit`` are ``None`` where the roles may not see them."""

    id: int
    crash_type: str
    message: str | None
    culprit: str | None
    status: str
    assignee: str | None
    events: int
    installs: int
    today: int
    yesterday: int
    first_seen: datetime
    last_seen: datetime
    first_release: str | None
    resolved_in: str | None
    regressed_in: str | None
    releases: tuple[str, ...]
    daily: tuple[int, ...]


@dataclass(frozen=True)
class GroupPage:
    rows: list[ListedGroup]
    next: Cursor | None


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _day(moment: datetime, back: int = 0) -> str:
    return (moment.astimezone(UTC) - timedelta(days=back)).strftime("%Y-%m-%d")


def _sort_key(query: ListQuery, now: datetime) -> Any:
    if query.sort == "trend":
        return _c.trend
    return {"last_seen": _c.last_seen, "first_seen": _c.first_seen, "events": _c.total_count,
            "installs": _c.install_count}[query.sort]


def _cursor_value(query: ListQuery, key: Any, value: int) -> Any:
    if query.sort in ("last_seen", "first_seen"):
        return sa.literal(_EPOCH + timedelta(microseconds=value), key.type)
    return sa.literal(value, sa.Integer())


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _conditions(project_id: str, query: ListQuery, now: datetime) -> list[Any]:
    conds: list[Any] = [_c.project_id == project_id, _c.merged_into.is_(None)]  # merged groups: on their primary
    if query.status is not None:
        conds.append(_c.status == query.status)
    if query.assignee is not None:
        conds.append(_c.assignee.is_(None) if query.assignee == UNASSIGNED else _c.assignee == query.assignee)
    for column, low, high in ((_c.first_seen, query.first_after, query.first_before),
                              (_c.last_seen, query.last_after, query.last_before)):
        if low is not None:
            conds.append(column >= _day_start(low))
        if high is not None:
            conds.append(column < _day_start(high) + timedelta(days=1))
    f = group_facets.c
    for kind, value in query.facets():
        # A probe of the facet's primary key per group walked, so the walk stops at a page.
        # OFFSET 0 keeps PostgreSQL from turning the probes into a join (whose size it
        # guesses badly: a parallel scan of every facet, ~10x the walk).
        conds.append(sa.exists(sa.select(sa.literal(1)).where(f.group_id == _c.id, f.kind == kind, f.value == value)
                               .offset(0)))
    if query.sort == "trend":
        conds.append(_c.day_key == _day(now))
    return conds


def list_page(conn: Connection, project_id: str, query: ListQuery, rules: TitleRules, *,
              now: datetime) -> GroupPage:
    """One page of ``project_id``'s groups under ``query``, titles cut to what ``rules`` allow."""
    key = _sort_key(query, now).label("sort_key")
    sqlite = conn.dialect.name == "sqlite"
    conds = _conditions(project_id, query, now)
    if query.q is not None:
        found = search.candidates(conn, project_id, query.q, rules)
        if found is not None and not found.ids:
            return GroupPage([], None)
        if found is not None:
            conds.append(_c.id.in_(found.ids))
        if found is None or not found.exact:
            conds.append(search.matches(query.q, rules, sqlite=sqlite))
    if query.after is not None:
        conds.append(sa.tuple_(key.element, _c.id) < sa.tuple_(_cursor_value(query, key.element, query.after.value),
                                                                sa.literal(query.after.id, sa.Integer())))
    columns = [_c.id, _c.crash_type, _c.culprit, _c.title_message, _c.title_message_at, _c.status, _c.assignee,
               _c.total_count, _c.install_count, _c.day_key, _c.day_count, _c.prev_day_count, _c.first_seen,
               _c.last_seen, _c.first_release, _c.resolved_in, _c.regressed_in, key]
    rows = conn.execute(sa.select(*columns).where(*conds).order_by(key.element.desc(), _c.id.desc())
                        .limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    ids = [row.id for row in rows]
    releases = _releases(conn, ids)
    daily = _daily(conn, ids, now)
    today, yesterday = _day(now), _day(now, 1)
    out = []
    for row in rows:
        shown_message = row.title_message if (rules.message_since is not None and row.title_message_at is not None
                                              and row.title_message_at >= rules.message_since) else None
        counts = ((row.day_count, row.prev_day_count) if row.day_key == today
                  else (0, row.day_count) if row.day_key == yesterday else (0, 0))
        out.append(ListedGroup(row.id, row.crash_type, shown_message, row.culprit if rules.culprit else None,
                               row.status, row.assignee, int(row.total_count), int(row.install_count), counts[0],
                               counts[1], row.first_seen, row.last_seen, row.first_release, row.resolved_in,
                               row.regressed_in, releases.get(row.id, ()), daily.get(row.id, (0,) * SPARK_DAYS)))
    following = None
    if more and rows:
        last = rows[-1]
        value = last.sort_key
        following = Cursor(_micros(value) if isinstance(value, datetime) else int(value), int(last.id))
    return GroupPage(out, following)


def _releases(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The newest few releases each group was seen in (its ``release`` facets)."""
    if not ids:
        return {}
    found: dict[int, list[str]] = {}
    for gid, value in conn.execute(sa.select(group_facets.c.group_id, group_facets.c.value).where(
            group_facets.c.group_id.in_(list(ids)), group_facets.c.kind == "release", group_facets.c.value != "")):
        found.setdefault(gid, []).append(value)
    newest_first = functools.cmp_to_key(_newer_first)
    return {gid: tuple(sorted(values, key=newest_first)[:_RELEASES_SHOWN]) for gid, values in found.items()}


@functools.lru_cache(maxsize=8192)
def _newer_first(a: str, b: str) -> int:
    """Release order, newest first. Memoized: a page sorts ~20 releases for each of 50
    groups, ~20,000 comparisons that each parsed two versions (~5 ms of CPU per request);
    a project has few releases, so the pairs repeat."""
    if release_is_after(a, b):
        return -1
    if release_is_after(b, a):
        return 1
    return (a < b) - (a > b)


def _daily(conn: Connection, ids: Sequence[int], now: datetime) -> dict[int, tuple[int, ...]]:
    """Reports per day of each group over the last :data:`SPARK_DAYS` days, oldest first."""
    if not ids:
        return {}
    days = [_day(now, back) for back in range(SPARK_DAYS - 1, -1, -1)]
    found: dict[int, dict[str, int]] = {}
    t = group_daily_rollups.c
    for gid, day, n in conn.execute(sa.select(t.group_id, t.day, sa.func.sum(t.count)).where(
            t.group_id.in_(list(ids)), t.day >= days[0]).group_by(t.group_id, t.day)):
        found.setdefault(gid, {})[day] = int(n)
    return {gid: tuple(per.get(day, 0) for day in days) for gid, per in found.items()}
