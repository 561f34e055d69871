"""The releases page's SQL: per release, its groups, reports, crash-affected and active
installations, crash-free rate and adoption; and the comparison of two releases.

Aggregates only (group rows, daily roll-ups and their install sketches, adoption counts), never a
report. Every number of installations passes :func:`k_visible` before it leaves this module
(None: "fewer than k"), and a rate is given only when the counts it is made of could be shown.

Releases come in the order ``governance.release_gate.known_releases`` gives them (the most
recently seen first, the one order the code has), then releases that only have adoption data
(installed, never crashed), the most recently pinged first; at most ``MAX_RELEASES``.

The crash-free rate is over installation-days in the window: on each day with adoption data,
the installations that crashed with the release (the union of that day's install sketches,
at most the day's active installations: a crash can come from an installation whose ping did
not) out of the installations that ran it; ``1 - sum(crashed) / sum(active)``. Pseudonyms
rotate (``keys.pseudonym_rotation_days``) and only the day's count of active installations is
kept, so distinct installations over the whole window cannot be counted; install-days can.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.adoption_tables import release_adoption
from crashveil.server.db.rollup_tables import group_daily_rollups, honest_count, union
from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.governance.release_gate import known_releases
from crashveil.server.insights.aggregates import k_visible

__all__ = ["WINDOW_DAYS", "MAX_RELEASES", "MAX_COMPARED_GROUPS", "AdoptionDay", "ReleaseHealth", "GroupLine",
           "Comparison", "release_health", "compare_releases", "window_days"]

#: Days the per-day numbers (reports, installations, rate, adoption) cover, today included.
WINDOW_DAYS = 30
#: Releases on the page.
MAX_RELEASES = 30
#: Groups listed in each column of a comparison.
MAX_COMPARED_GROUPS = 50


@dataclass(frozen=True)
class AdoptionDay:
    """One day of a release's adoption: active installations, None when fewer than k."""

    day: str
    installs: int | None


@dataclass(frozen=True)
class ReleaseHealth:
    """One release's row. Installation counts are k-visible (None: fewer than k)."""

    release: str
    new_groups: int
    regressed_groups: int
    reports: int
    crashed_installs: int | None
    has_adoption: bool
    active_installs: int | None
    crash_free: float | None
    rate_hidden: bool
    adoption: tuple[AdoptionDay, ...]


@dataclass(frozen=True)
class GroupLine:
    """A group in a comparison: its id and title (the crash type, a code name every role sees)."""

    id: int
    crash_type: str
    status: str


@dataclass(frozen=True)
class Comparison:
    """Release ``b`` against release ``a``: groups seen in b and not a, and seen in a and not b."""

    a: ReleaseHealth
    b: ReleaseHealth
    new_in_b: tuple[GroupLine, ...]
    fixed_in_b: tuple[GroupLine, ...]
    more_new: bool
    more_fixed: bool


def window_days(now: datetime, days: int = WINDOW_DAYS) -> list[str]:
    """The window's days, oldest first, today last."""
    today = now.date()
    return [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def release_order(conn: Connection, project_id: str, since: str) -> list[str]:
    """The releases of the page, in order (module docstring), at most ``MAX_RELEASES``."""
    releases = known_releases(conn.engine, project_id)
    listed = set(releases)
    adopted = conn.execute(sa.select(release_adoption.c.release, sa.func.max(release_adoption.c.day))
                           .where(release_adoption.c.project_id == project_id, release_adoption.c.day >= since)
                           .group_by(release_adoption.c.release))
    releases += [r for _, r in sorted(((day, r) for r, day in adopted if r not in listed), reverse=True)]
    return releases[:MAX_RELEASES]


def _groups_by(conn: Connection, project_id: str, column: sa.Column[str | None]) -> dict[str, int]:
    rows = conn.execute(sa.select(column, sa.func.count()).where(crash_groups.c.project_id == project_id,
                                                                 column.is_not(None)).group_by(column))
    return {str(value): int(count) for value, count in rows}


@dataclass
class _Window:
    """What the window's daily roll-ups say of one release."""

    reports: int = 0
    sketches: list[bytes] | None = None
    by_day: dict[str, list[bytes]] | None = None


def _window_rollups(conn: Connection, project_id: str, since: str, releases: Sequence[str]) -> dict[str, _Window]:
    cols = group_daily_rollups.c
    found: dict[str, _Window] = {}
    for release, day, count, sketch in conn.execute(
            sa.select(cols.release, cols.day, cols.count, cols.installs).where(
                cols.project_id == project_id, cols.day >= since, cols.release.in_(list(releases)))):
        entry = found.setdefault(release, _Window(0, [], defaultdict(list)))
        entry.reports += int(count)
        if sketch:
            assert entry.sketches is not None and entry.by_day is not None
            entry.sketches.append(sketch)
            entry.by_day[day].append(sketch)
    return found


def _adoption(conn: Connection, project_id: str, since: str, releases: Sequence[str]) -> dict[str, dict[str, int]]:
    cols = release_adoption.c
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for release, day, installs in conn.execute(sa.select(cols.release, cols.day, cols.installs).where(
            cols.project_id == project_id, cols.day >= since, cols.release.in_(list(releases)))):
        found[release][day] = int(installs)
    return found


def _health(release: str, groups: tuple[dict[str, int], dict[str, int]], window: _Window,
            active: dict[str, int], days: Sequence[str], min_k: int) -> ReleaseHealth:
    """One release's row from its window's roll-ups and adoption counts (k applied here)."""
    crashed = honest_count(union(window.sketches or []), min_k) if window.sketches else 0
    crashed_shown = k_visible(crashed, min_k)
    crash_free, hidden = None, False
    if active:
        ran = sum(active.values())
        by_day = window.by_day or {}
        fell = sum(min(honest_count(union(by_day.get(day, [])), 1), count) for day, count in active.items())
        # A rate of few installations, or of few crashed ones, would give their count away.
        hidden = max(active.values()) < min_k or (0 < crashed and crashed_shown is None)
        crash_free = None if hidden or not ran else max(0.0, 1.0 - fell / ran)
    latest = active[max(active)] if active else 0
    return ReleaseHealth(
        release=release, new_groups=groups[0].get(release, 0), regressed_groups=groups[1].get(release, 0),
        reports=window.reports, crashed_installs=crashed_shown, has_adoption=bool(active),
        active_installs=k_visible(latest, min_k) if active else None, crash_free=crash_free, rate_hidden=hidden,
        adoption=tuple(AdoptionDay(day, k_visible(active.get(day, 0), min_k)) for day in days))


def release_health(conn: Connection, project_id: str, *, now: datetime, min_k: int,
                   releases: Sequence[str] | None = None) -> list[ReleaseHealth]:
    """The page's rows: ``releases`` (default: :func:`release_order`) in that order."""
    days = window_days(now)
    since = days[0]
    order = list(releases) if releases is not None else release_order(conn, project_id, since)
    if not order:
        return []
    groups = (_groups_by(conn, project_id, crash_groups.c.first_release),
              _groups_by(conn, project_id, crash_groups.c.regressed_in))
    windows = _window_rollups(conn, project_id, since, order)
    adoption = _adoption(conn, project_id, since, order)
    return [_health(release, groups, windows.get(release, _Window()), adoption.get(release, {}), days, min_k)
            for release in order]


def _groups_seen(conn: Connection, project_id: str, release: str) -> set[int]:
    facets = group_facets.c
    return set(conn.execute(sa.select(facets.group_id).where(
        facets.project_id == project_id, facets.kind == "release", facets.value == release)).scalars())


def _lines(conn: Connection, ids: Iterable[int]) -> list[GroupLine]:
    wanted = sorted(ids)[:MAX_COMPARED_GROUPS + 1]
    if not wanted:
        return []
    rows = conn.execute(sa.select(crash_groups.c.id, crash_groups.c.crash_type, crash_groups.c.status)
                        .where(crash_groups.c.id.in_(wanted)).order_by(crash_groups.c.id))
    return [GroupLine(int(r.id), r.crash_type, r.status) for r in rows]


def compare_releases(conn: Connection, project_id: str, a: str, b: str, *, now: datetime, min_k: int) -> Comparison:
    """Release ``b`` against ``a``: groups new in b (seen in b, never in a), fixed in b (seen in a,
    not in b), and both rows side by side."""
    health = {row.release: row for row in release_health(conn, project_id, now=now, min_k=min_k, releases=[a, b])}
    seen_a, seen_b = _groups_seen(conn, project_id, a), _groups_seen(conn, project_id, b)
    new, fixed = _lines(conn, seen_b - seen_a), _lines(conn, seen_a - seen_b)
    return Comparison(a=health[a], b=health[b], new_in_b=tuple(new[:MAX_COMPARED_GROUPS]),
                      fixed_in_b=tuple(fixed[:MAX_COMPARED_GROUPS]), more_new=len(new) > MAX_COMPARED_GROUPS,
                      more_fixed=len(fixed) > MAX_COMPARED_GROUPS)
