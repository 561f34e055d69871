"""Daily counts through the API (``groups:read``): per UTC day, group and release, the reports
and the installations behind them, as the dashboard's group pages count them.

One row per (day, group, release) from the daily roll-ups (``db.rollup_tables``: the
dashboard's own source), OS families summed. ``installs`` is the union of the rows' install
sketches, given only at or above the policy's ``min_k`` (``null`` below, as the dashboard
says "fewer than k"); report counts are shown as the dashboard shows them. Aggregates only:
no report, no pseudonym, no title (a group is its id; its title is in the group's own read).

Ordered by (day, group, release); the cursor is the last row's key (a keyset: any page
costs what the first does, and rows that arrive meanwhile land in later pages, never twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import BadQueryParameter, NotVisible
from crashveil.server.api.auth import authenticate, project_roles, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.api.paging import (
    Page,
    check_names,
    decode_cursor,
    encode_cursor,
    json_answer,
    limit_param,
    single,
)
from crashveil.server.db.rollup_tables import group_daily_rollups, honest_count, union
from crashveil.server.insights.aggregates import k_visible

__all__ = ["DailyQuery", "daily_page", "list_aggregates"]

DEFAULT_DAYS = 14
MAX_DAYS = 30
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_MAX_RELEASE = 128
_MAX_GROUP = 2**31 - 1
_PARAMS = ("days", "group", "release", "limit", "cursor")


def _whole(request: Request, name: str, low: int, high: int) -> int | None:
    text = single(request, name)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not low <= int(text) <= high:
        raise BadQueryParameter(name, f"a whole number from {low} to {high}")
    return int(text)


def _release(request: Request) -> str | None:
    text = single(request, "release")
    if text is not None and (not 0 < len(text) <= _MAX_RELEASE or not text.isprintable()):
        raise BadQueryParameter("release", f"a release name of 1-{_MAX_RELEASE} printable characters")
    return text


def _query(project_id: str, since: str, group: int | None, release: str | None,
           after: tuple[str, int, str] | None, limit: int) -> sa.Select[Any]:
    t = group_daily_rollups.c
    query = sa.select(t.day, t.group_id, t.release, sa.func.sum(t.count).label("reports")).where(
        t.project_id == project_id, t.day >= since)
    if group is not None:
        query = query.where(t.group_id == group)
    if release is not None:
        query = query.where(t.release == release)
    if after is not None:
        query = query.where(sa.tuple_(t.day, t.group_id, t.release) > sa.tuple_(*after))
    return query.group_by(t.day, t.group_id, t.release).order_by(t.day, t.group_id, t.release).limit(limit + 1)


def _sketches(conn: sa.Connection, project_id: str, keys: list[tuple[str, int, str]]) -> dict[tuple[str, int, str],
                                                                                           list[bytes]]:
    t = group_daily_rollups.c
    found: dict[tuple[str, int, str], list[bytes]] = {key: [] for key in keys}
    if not keys:
        return found
    rows = conn.execute(sa.select(t.day, t.group_id, t.release, t.installs).where(
        t.project_id == project_id, t.installs.is_not(None), sa.tuple_(t.day, t.group_id, t.release).in_(keys)))
    for day, group_id, release, sketch in rows:
        found[(day, int(group_id), release)].append(sketch)
    return found


@dataclass(frozen=True)
class DailyQuery:
    """One page's question: days from ``since``, optionally one group and one release, after
    the key ``after`` (day, group, release), at most ``limit`` rows."""

    since: str
    group: int | None
    release: str | None
    after: tuple[str, int, str] | None
    limit: int


def daily_page(conn: sa.Connection, project_id: str, query: DailyQuery, *, min_k: int) -> Page:
    """The rows of one page, installs k-visible, and the cursor of the next."""
    rows = conn.execute(_query(project_id, query.since, query.group, query.release, query.after,
                               query.limit)).all()
    keys = [(r.day, int(r.group_id), r.release) for r in rows[:query.limit]]
    sketches = _sketches(conn, project_id, keys)
    items = [{"day": day, "group": gid, "release": rel, "reports": int(row.reports),
              "installs": k_visible(honest_count(union(sketches[(day, gid, rel)]), min_k), min_k)}
             for (day, gid, rel), row in zip(keys, rows, strict=False)]
    following = encode_cursor("aggregates", list(keys[-1])) if len(rows) > query.limit else None
    return Page("aggregates", items, following)


async def list_aggregates(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/aggregates: daily rows, k-anonymous installs, keyset pages."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "groups:read")
    check_names(request, _PARAMS)
    days = _whole(request, "days", 1, MAX_DAYS) or DEFAULT_DAYS
    group = _whole(request, "group", 1, _MAX_GROUP)
    release = _release(request)
    limit = limit_param(request, DEFAULT_LIMIT, MAX_LIMIT)
    cursor = single(request, "cursor")
    after = decode_cursor(cursor, "aggregates", (str, int, str)) if cursor is not None else None
    project_id = request.path_params["project"]
    project_roles(caller, project_id)
    since = (ctx.now().date() - timedelta(days=days - 1)).isoformat()

    def load() -> Page:
        project = ctx.storage.project(project_id)
        if project is None:
            raise NotVisible("no such project")
        with ctx.storage.engine.connect() as conn:
            return daily_page(conn, project_id, DailyQuery(since, group, release, after, limit),
                              min_k=project.policy.aggregation.min_k)

    page = await run_in_threadpool(load)
    params = {name: value for name, value in (("days", str(days)), ("group", str(group) if group else None),
                                              ("release", release), ("limit", str(limit))) if value is not None}
    return json_answer(request, {**page.body(), "since": since},
                       link=page.link(f"/api/v1/projects/{project_id}/aggregates", params))
