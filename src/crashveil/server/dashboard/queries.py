"""The dashboard's reads: group lists, group detail, distributions, correlation.

The group list reads the daily roll-ups of migration 0005 (``db.rollup_tables``: whole
days) plus the hourly roll-ups of the range's first day, never the reports; affected
installations are unions of per group x day install sketches (HyperLogLog, with a k-honest
lower bound), filter choices come from ``project_filter_values``. Group pages and plots
read the hourly roll-ups for the last 7 days, and the daily ones (whole days) plus the
hourly ones (the first, partial day) for 30 days; the group page's affected installations
are the group's day sketches plus the pseudonyms of that first partial day, never a scan of
30 days of reports. Every query is scoped by the project the caller
is authorised for, so an id from another project finds nothing (404, RELIABILITY D.32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.dashboard_tables import group_status_changes
from crashveil.server.db.rollup_tables import (
    FILTER_OS,
    FILTER_RELEASE,
    InstallSketch,
    group_daily_rollups,
    group_day_installs,
    honest_count,
    project_filter_values,
    union,
)
from crashveil.server.db.tables import crash_groups, group_rollups, project_policies, reports
from crashveil.server.db.triage_tables import group_day_facets
from crashveil.server.insights.anomaly import AnomalySettings, hour_key, score_series

__all__ = ["MAX_ID", "RANGES", "SORTS", "GroupFilter", "GroupRow", "list_groups", "filter_options", "distribution",
           "daily_series", "hourly_series", "correlate_spike", "recent_reports", "group_row", "status_history",
           "latest_release", "group_installs", "day_facet_distribution", "daily_counts"]

#: Time ranges offered by the filters, in hours.
RANGES: dict[str, int] = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24, "90d": 90 * 24}
#: Sort keys offered by the group list.
SORTS = ("count", "last_seen", "first_seen", "installs")


@dataclass(frozen=True)
class GroupFilter:
    """What the group list shows."""

    range: str = "7d"
    release: str | None = None
    os_family: str | None = None
    sort: str = "count"
    status: str | None = None
    limit: int = 50

    def since(self, now: datetime) -> str:
        return hour_key(now - timedelta(hours=RANGES[self.range] - 1))


@dataclass(frozen=True)
class GroupRow:
    """One line of the group list (counts within the filter's range)."""

    id: int
    crash_type: str
    status: str
    count: int
    installs: int
    first_seen: datetime
    last_seen: datetime
    first_release: str | None
    last_release: str | None
    resolved_in: str | None
    regressed_in: str | None
    releases: tuple[str, ...]


def _next_day(day: str) -> str:
    return (datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")


def _window_counts(project_id: str, since: str, flt: GroupFilter, *columns: str) -> Any:
    """Rows (``columns``..., n) of the reports since the hour ``since``: whole days from the
    daily roll-ups, the first (partial) day from the hourly ones. A UNION ALL subquery."""
    since_day = since[:10]
    parts = []
    for table, where in ((group_daily_rollups, [group_daily_rollups.c.day > since_day]),
                         (group_rollups, [group_rollups.c.hour >= since,
                                          group_rollups.c.hour < _next_day(since_day) + "T00:00Z"])):
        conds = [table.c.project_id == project_id, *where]
        if flt.release is not None:
            conds.append(table.c.release == flt.release)
        if flt.os_family is not None:
            conds.append(table.c.os_family == flt.os_family)
        parts.append(sa.select(*(table.c[c] for c in columns), table.c.count.label("n")).where(*conds))
    return sa.union_all(*parts).subquery()


def list_groups(conn: Connection, project_id: str, flt: GroupFilter, *, now: datetime,
                installs: Callable[[list[int], str], dict[int, int]] | None = None) -> list[GroupRow]:
    """Groups with reports in the filter's range, sorted, at most ``flt.limit``.

    ``installs(ids, since)`` counts affected installations (default :func:`installs`; the
    dashboard passes a cached one).
    """
    since = flt.since(now)
    window = _window_counts(project_id, since, flt, "group_id")
    counts = (sa.select(window.c.group_id, sa.func.sum(window.c.n).label("n"))
              .group_by(window.c.group_id).subquery())
    query = (sa.select(crash_groups, counts.c.n).join(counts, counts.c.group_id == crash_groups.c.id)
             .where(crash_groups.c.project_id == project_id))
    if flt.status is not None:
        query = query.where(crash_groups.c.status == flt.status)
    order = {"count": counts.c.n.desc(), "last_seen": crash_groups.c.last_seen.desc(),
             "first_seen": crash_groups.c.first_seen.desc()}.get(flt.sort, counts.c.n.desc())
    rows = conn.execute(query.order_by(order, crash_groups.c.id).limit(flt.limit)).all()
    ids = [row.id for row in rows]
    counted = installs(ids, since) if installs is not None else _installs(conn, ids, since, flt)
    releases = _releases(conn, project_id, ids, since)
    out = [GroupRow(row.id, row.crash_type, row.status, int(row.n), counted.get(row.id, 0), row.first_seen,
                    row.last_seen, row.first_release, row.last_release, row.resolved_in, row.regressed_in,
                    releases.get(row.id, ())) for row in rows]
    if flt.sort == "installs":
        out.sort(key=lambda g: (-g.installs, g.id))
    return out


def installs(conn: Connection, ids: Sequence[int], since: str, flt: GroupFilter) -> dict[int, int]:
    """Distinct install pseudonyms per group since ``since`` under the filter's release and OS."""
    return _installs(conn, ids, since, flt)


_MIN_K: dict[str, int] = {}


def _min_k(conn: Connection, group_id: int) -> int:
    """The k of the current policy of ``group_id``'s project (parsed once per policy digest)."""
    row = conn.execute(
        sa.select(project_policies.c.digest, project_policies.c.policy_toml)
        .join(crash_groups, crash_groups.c.project_id == project_policies.c.project_id)
        .where(crash_groups.c.id == group_id).order_by(project_policies.c.created_at.desc()).limit(1)).first()
    if row is None:
        return 2**31
    k = _MIN_K.get(row.digest)
    if k is None:
        import tomllib

        k = _MIN_K[row.digest] = int(tomllib.loads(row.policy_toml)["aggregation"]["min_k"])
    return k


def _installs(conn: Connection, ids: Sequence[int], since: str, flt: GroupFilter) -> dict[int, int]:
    """Affected installations from the install sketches (``db.rollup_tables``), per group.

    Counted over whole days from the day of ``since`` (up to 23 hours more than the
    report counts). A count is an estimate (about 4.6 % standard error when large, within a
    few units when small) only when at least k installations are certain; below that it is
    the certain lower bound, which the dashboard hides as "fewer than k".
    """
    if not ids:
        return {}
    since_day = since[:10]
    if flt.release is None and flt.os_family is None:
        table = group_day_installs
        query = sa.select(table.c.group_id, table.c.installs).where(
            table.c.group_id.in_(list(ids)), table.c.day >= since_day)
    else:
        table = group_daily_rollups
        query = sa.select(table.c.group_id, table.c.installs).where(
            table.c.group_id.in_(list(ids)), table.c.day >= since_day, table.c.installs.is_not(None))
        if flt.release is not None:
            query = query.where(table.c.release == flt.release)
        if flt.os_family is not None:
            query = query.where(table.c.os_family == flt.os_family)
    sketches: dict[int, list[bytes]] = {}
    for gid, blob in conn.execute(query):
        sketches.setdefault(gid, []).append(blob)
    if not sketches:
        return {}
    k = _min_k(conn, ids[0])
    return {gid: honest_count(union(blobs), k) for gid, blobs in sketches.items()}


def _releases(conn: Connection, project_id: str, ids: Sequence[int], since: str) -> dict[int, tuple[str, ...]]:
    if not ids:
        return {}
    found: dict[int, set[str]] = {}
    since_day = since[:10]
    daily = sa.select(group_daily_rollups.c.group_id, group_daily_rollups.c.release).distinct().where(
        group_daily_rollups.c.group_id.in_(list(ids)), group_daily_rollups.c.day > since_day)
    first = sa.select(group_rollups.c.group_id, group_rollups.c.release).distinct().where(
        group_rollups.c.group_id.in_(list(ids)), group_rollups.c.hour >= since,
        group_rollups.c.hour < _next_day(since_day) + "T00:00Z")
    for query in (daily, first):
        for gid, release in conn.execute(query):
            found.setdefault(gid, set()).add(release)
    return {gid: tuple(sorted(rels, reverse=True)[:5]) for gid, rels in found.items()}


#: The largest id an ``sa.Integer`` key holds on every database (PostgreSQL's int4); a larger
#: one from a URL would raise (OverflowError on SQLite past 2**63, out of range on PostgreSQL).
MAX_ID = 2**31 - 1


def group_row(conn: Connection, project_id: str, group_id: int) -> Any | None:
    """The ``crash_groups`` row of ``group_id`` in ``project_id``, or ``None`` (also for ids
    no row can have: every group route looks the group up here first)."""
    if not 0 < group_id <= MAX_ID:
        return None
    return conn.execute(sa.select(crash_groups).where(crash_groups.c.project_id == project_id,
                                                      crash_groups.c.id == group_id)).first()


def filter_options(conn: Connection, project_id: str, *, now: datetime) -> tuple[list[str], list[str]]:
    """Releases and OS families seen in the project over the last 90 days (``project_filter_values``)."""
    since = (now - timedelta(days=90)).astimezone(UTC).strftime("%Y-%m-%d")
    found: dict[str, set[str]] = {FILTER_RELEASE: set(), FILTER_OS: set()}
    for kind, value in conn.execute(sa.select(project_filter_values.c.kind, project_filter_values.c.value).where(
            project_filter_values.c.project_id == project_id, project_filter_values.c.last_seen >= since)):
        found.setdefault(kind, set()).add(value)
    return sorted(found[FILTER_RELEASE], reverse=True), sorted(found[FILTER_OS])


def latest_release(conn: Connection, project_id: str) -> str | None:
    """The release of the project's most recent roll-up hour (the newest one, by name, in that hour)."""
    hour = conn.execute(sa.select(sa.func.max(group_rollups.c.hour))
                        .where(group_rollups.c.project_id == project_id)).scalar()
    if hour is None:
        return None
    rels = [r for (r,) in conn.execute(sa.select(group_rollups.c.release).distinct().where(
        group_rollups.c.project_id == project_id, group_rollups.c.hour == hour)) if r]
    return max(rels, key=_release_key) if rels else None


def _release_key(release: str) -> tuple[Any, ...]:
    parts = []
    for piece in release.replace("-", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return tuple(parts)


def distribution(conn: Connection, group_id: int, column: str, *, since: str) -> list[tuple[str, int]]:
    """Report counts of a group by ``column`` (``release`` or ``os_family``) since the hour
    ``since``, largest first: whole days from the daily roll-ups, the hours of ``since``'s
    own day from the hourly ones (about 30x fewer rows than the hourly roll-ups alone)."""
    since_day = since[:10]
    parts = []
    for table, where in ((group_daily_rollups, [group_daily_rollups.c.day > since_day]),
                         (group_rollups, [group_rollups.c.hour >= since,
                                          group_rollups.c.hour < _next_day(since_day) + "T00:00Z"])):
        parts.append(sa.select(table.c[column].label("value"), table.c.count.label("n"))
                     .where(table.c.group_id == group_id, *where))
    window = sa.union_all(*parts).subquery()
    rows = conn.execute(sa.select(window.c.value, sa.func.sum(window.c.n)).group_by(window.c.value))
    return sorted(((str(k), int(n)) for k, n in rows), key=lambda kv: (-kv[1], kv[0]))


def day_facet_distribution(conn: Connection, group_id: int, kind: str, *, since_day: str) -> list[tuple[str, int]]:
    """Report counts of a group by runtime or environment (``group_day_facets``, whole UTC
    days from ``since_day`` on), largest first."""
    t = group_day_facets.c
    rows = conn.execute(sa.select(t.value, sa.func.sum(t.count)).where(
        t.group_id == group_id, t.kind == kind, t.day >= since_day).group_by(t.value))
    return sorted(((str(k), int(n)) for k, n in rows), key=lambda kv: (-kv[1], kv[0]))


def daily_counts(conn: Connection, group_id: int, *, now: datetime, days: int) -> list[tuple[str, int]]:
    """Reports of a group per UTC day, the last ``days`` days to today, oldest first, gaps as 0
    (the daily roll-ups: one index range of the group)."""
    today = now.astimezone(UTC).date()
    wanted = [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
    t = group_daily_rollups.c
    found = dict(conn.execute(sa.select(t.day, sa.func.sum(t.count)).where(
        t.group_id == group_id, t.day >= wanted[0]).group_by(t.day)).all())
    return [(day, int(found.get(day) or 0)) for day in wanted]


def group_installs(conn: Connection, group_id: int, *, since: str, min_k: int) -> int:
    """Distinct install pseudonyms of one group since the hour ``since`` (the group page), as
    :func:`~crashveil.server.db.rollup_tables.honest_count` gives it for ``min_k``.

    Whole days after ``since``'s day are the union of the group's per-day sketches
    (``group_day_installs``, one row per day); the hours of ``since``'s own day are the
    pseudonyms of those reports (an index-only range of ``(group_id, hour, install_id)``, at
    most one day of one group), added to the same sketch. So the window is the same as a
    scan of the reports, to the hour, and the k rule stays honest (each pseudonym sets at
    most one register). An estimate: about 4.6 % standard error when large.
    """
    since_day = since[:10]
    first_whole = since_day if since.endswith("T00:00Z") else _next_day(since_day)
    blobs = list(conn.execute(sa.select(group_day_installs.c.installs).where(
        group_day_installs.c.group_id == group_id, group_day_installs.c.day >= first_whole)).scalars())
    sketch = InstallSketch(union(blobs) if blobs else None)
    if first_whole != since_day:
        for (install,) in conn.execute(sa.select(reports.c.install_id).distinct().where(
                reports.c.group_id == group_id, reports.c.hour >= since, reports.c.hour < first_whole + "T00:00Z",
                reports.c.install_id.is_not(None))):
            sketch.add(install)
    return honest_count(sketch.registers, min_k)


def hourly_series(conn: Connection, *, project_id: str, group_id: int | None, now: datetime,
                  hours: int) -> list[tuple[str, int]]:
    """Hourly counts, oldest first, gaps as 0: of one group, or of the project."""
    from crashveil.server.insights.anomaly import group_series, project_series

    if group_id is None:
        return project_series(conn, project_id, now=now, hours=hours)
    return group_series(conn, [group_id], now=now, hours=hours)[group_id]


def daily_series(hourly: Sequence[tuple[str, int]]) -> list[tuple[datetime, int]]:
    """Hourly counts summed per UTC day."""
    days: dict[str, int] = {}
    for hour, n in hourly:
        days[hour[:10]] = days.get(hour[:10], 0) + n
    return [(datetime.fromisoformat(day).replace(tzinfo=UTC), n) for day, n in days.items()]


def parse_hour(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Correlation:
    """Which release or platform a spike started with."""

    spike_hour: str
    z: float
    rows: list[tuple[str, str, int, int, float]]  # (dimension, value, in spike, in baseline, lift in points)
    started_with: str | None


def correlate_spike(conn: Connection, group_id: int, hourly: Sequence[tuple[str, int]],
                    settings: AnomalySettings = AnomalySettings()) -> Correlation | None:
    """For the first anomalous hour of ``hourly``: the releases and OS families whose share of
    the group's reports grew most against the preceding 72 hours.

    The "started with" answer is the value with the largest gain in share, if it holds at
    least half of the spike hour's reports.
    """
    flagged = [s for s in score_series(hourly, settings) if s.anomalous]
    if not flagged:
        return None
    spike = flagged[0]
    baseline_from = hour_key(parse_hour(spike.hour) - timedelta(hours=72))
    rows: list[tuple[str, str, int, int, float]] = []
    for dimension in ("release", "os_family"):
        col = group_rollups.c[dimension]
        spike_counts = dict(conn.execute(sa.select(col, sa.func.sum(group_rollups.c.count)).where(
            group_rollups.c.group_id == group_id, group_rollups.c.hour == spike.hour).group_by(col)).all())
        base_counts = dict(conn.execute(sa.select(col, sa.func.sum(group_rollups.c.count)).where(
            group_rollups.c.group_id == group_id, group_rollups.c.hour >= baseline_from,
            group_rollups.c.hour < spike.hour).group_by(col)).all())
        spike_total = sum(spike_counts.values()) or 1
        base_total = sum(base_counts.values()) or 1
        for value in set(spike_counts) | set(base_counts):
            share_now = spike_counts.get(value, 0) / spike_total
            share_before = base_counts.get(value, 0) / base_total
            rows.append((dimension, str(value), int(spike_counts.get(value, 0)), int(base_counts.get(value, 0)),
                         round(100 * (share_now - share_before), 1)))
    rows.sort(key=lambda r: (-r[4], r[0], r[1]))
    started = None
    if rows and rows[0][4] > 0:
        dimension, value, n, _, _ = rows[0]
        total = sum(r[2] for r in rows if r[0] == dimension) or 1
        if n * 2 >= total:
            started = f"{'release' if dimension == 'release' else 'OS family'} {value or '(unknown)'}"
    return Correlation(spike.hour, spike.z, rows[:8], started)


def recent_reports(conn: Connection, project_id: str, group_id: int, *, limit: int = 10) -> Sequence[Any]:
    """The group's latest stored reports (ids and aggregate columns only, no content)."""
    return conn.execute(
        sa.select(reports.c.report_id, reports.c.hour, reports.c.release, reports.c.os_family, reports.c.origin,
                  reports.c.detail.is_not(None).label("has_detail"))
        .where(reports.c.project_id == project_id, reports.c.group_id == group_id)
        .order_by(reports.c.received_at.desc(), reports.c.id.desc()).limit(limit)).all()


def status_history(conn: Connection, group_id: int, *, limit: int = 10) -> Sequence[Any]:
    return conn.execute(sa.select(group_status_changes).where(group_status_changes.c.group_id == group_id)
                        .order_by(group_status_changes.c.changed_at.desc(), group_status_changes.c.id.desc())
                        .limit(limit)).all()
