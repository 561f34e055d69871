"""What an erasure takes out of its groups' triage state (``storage.triage``), in the
erasure's transaction, after the per-day sketches are rebuilt (``db.rollup_tables``).

Exact, from the deleted rows: ``total_count``, the day counts of the trend and the hourly
and daily roll-up counts (the list's sparkline, the group page's charts) lose the deleted
reports (every stored report has a row and added 1 to each; a roll-up row left at zero is
deleted). Recomputed from what
remains, since a sketch or a boundary cannot forget one installation:

- ``installs`` / ``install_count``: the union of the group's per-day sketches (rebuilt
  without the erased pseudonyms); days whose sketches retention removed no longer count;
- ``first_seen`` / ``last_seen``: when a deleted report was at the boundary, the earliest /
  latest received report left (kept as they are when no report is left);
- the release, OS, environment and platform facets a deleted report showed: kept only if a
  report left shows them; when no report of the group is left, every facet goes. Reports
  keep their environment (deployment) and platform since migration 0015; while a report
  stored before it is left in the group (NULL there), the group keeps those two facets;
- ``title_message``: forgotten when a deleted report was the one it came from (the template
  of an earlier report could only be recovered by decrypting it); so are ``source_lines``;
- the runtime and environment day counts (``group_day_facets``): all go when no report of
  the group is left (the reports do not store those values in clear, so a group with reports
  left keeps its counts; the group page folds values below k).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from crashveil.server.db.rollup_tables import group_daily_rollups, group_day_installs, union
from crashveil.server.db.tables import crash_groups, group_rollups, reports
from crashveil.server.db.triage_tables import group_day_facets, group_facets
from crashveil.server.storage.triage import install_count

__all__ = ["ErasedInGroup", "update_erased_groups"]


@dataclass
class ErasedInGroup:
    """The deleted reports of one group, as their rows said."""

    count: int = 0
    days: dict[str, int] = field(default_factory=dict)  # received day -> reports
    received: set[datetime] = field(default_factory=set)
    releases: set[str] = field(default_factory=set)
    os_families: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    platforms: set[str] = field(default_factory=set)
    #: (hour, release, OS family) -> [reports, counts-only reports]: the roll-up cells.
    cells: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)

    def add(self, day: str, hour: str, received_at: datetime, release: str | None, os_family: str | None, *,
            counts_only: bool, deployment: str | None = None, platform: str | None = None) -> None:
        """Count one deleted report (``deployment`` / ``platform``: NULL before migration 0015)."""
        self.count += 1
        self.days[day] = self.days.get(day, 0) + 1
        self.received.add(received_at)
        self.releases.add(release or "")
        self.os_families.add(os_family or "")
        if deployment is not None:
            self.deployments.add(deployment)
        if platform is not None:
            self.platforms.add(platform)
        cell = self.cells.setdefault((hour, release or "", os_family or ""), [0, 0])
        cell[0] += 1
        cell[1] += int(counts_only)


def update_erased_groups(conn: sa.Connection, erased: dict[int, ErasedInGroup]) -> None:
    """Take the deleted reports ``erased`` (group id -> what was deleted) out of their groups."""
    for group_id in sorted(erased):
        _update_group(conn, group_id, erased[group_id])
        _subtract_rollups(conn, group_id, erased[group_id])


def _subtract_rollups(conn: sa.Connection, group_id: int, gone: ErasedInGroup) -> None:
    """Take the deleted reports out of the hourly and daily roll-up counts."""
    daily: dict[tuple[str, str, str], list[int]] = {}
    for (hour, release, os_family), (count, counts_only) in gone.cells.items():
        cell = daily.setdefault((hour[:10], release, os_family), [0, 0])
        cell[0] += count
        cell[1] += counts_only
    for table, slot, cells in ((group_rollups, group_rollups.c.hour, gone.cells),
                               (group_daily_rollups, group_daily_rollups.c.day, daily)):
        t = table.c
        for (key, release, os_family), (count, counts_only) in sorted(cells.items()):
            where = (t.group_id == group_id, slot == key, t.release == release, t.os_family == os_family)
            conn.execute(table.update().where(*where).values(
                count=t.count - count, counts_only=sa.case((t.counts_only > counts_only, t.counts_only - counts_only),
                                                           else_=0)))
            conn.execute(table.delete().where(*where, t.count <= 0))


def _update_group(conn: sa.Connection, group_id: int, gone: ErasedInGroup) -> None:
    c = crash_groups.c
    row = conn.execute(sa.select(c.total_count, c.first_seen, c.last_seen, c.day_key, c.day_count, c.prev_day_count,
                                 c.title_message_at, c.source_at).where(c.id == group_id)).first()
    if row is None:
        return
    left = conn.execute(sa.select(sa.func.min(reports.c.received_at), sa.func.max(reports.c.received_at))
                        .where(reports.c.group_id == group_id)).one()
    values: dict[str, object] = {"total_count": max(0, row.total_count - gone.count)}
    if row.day_key is not None:
        before = (datetime.strptime(row.day_key, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
        day_count = max(0, row.day_count - gone.days.get(row.day_key, 0))
        prev_day_count = max(0, row.prev_day_count - gone.days.get(before, 0))
        values.update(day_count=day_count, prev_day_count=prev_day_count, trend=day_count - prev_day_count)
    first, last = min(gone.received), max(gone.received)
    if left[0] is not None and first <= row.first_seen:
        values["first_seen"] = left[0]
    if left[1] is not None and last >= row.last_seen:
        values["last_seen"] = left[1]
    if row.title_message_at is not None and row.title_message_at in gone.received:
        values.update(title_message=None, title_message_at=None)
    if row.source_at is not None and row.source_at in gone.received:
        values.update(source_lines=None, source_at=None)
    sketches = conn.execute(sa.select(group_day_installs.c.installs).where(
        group_day_installs.c.group_id == group_id)).scalars().all()
    registers = union(sketches) if sketches else None
    values.update(installs=registers, install_count=install_count(registers) if registers is not None else 0)
    conn.execute(crash_groups.update().where(c.id == group_id).values(values))
    _drop_facets(conn, group_id, gone, any_left=left[0] is not None)


def _drop_facets(conn: sa.Connection, group_id: int, gone: ErasedInGroup, *, any_left: bool) -> None:
    """Drop the facets only the deleted reports showed (all of them when no report is left)."""
    f, r = group_facets.c, reports.c
    if not any_left:
        conn.execute(group_facets.delete().where(f.group_id == group_id))
        conn.execute(group_day_facets.delete().where(group_day_facets.c.group_id == group_id))
        return
    for kind, column, values in (("release", r.release, gone.releases), ("os", r.os_family, gone.os_families),
                                 ("environment", r.deployment, gone.deployments),
                                 ("platform", r.platform, gone.platforms)):
        if not values:
            continue
        shown = set(conn.execute(sa.select(sa.func.coalesce(column, "")).distinct().where(
            r.group_id == group_id)).scalars())
        if kind in ("environment", "platform") and conn.execute(sa.select(r.id).where(
                r.group_id == group_id, column.is_(None)).limit(1)).first() is not None:
            continue  # a report from before migration 0015 is left: what it showed is unknown
        orphans = sorted(values - shown)
        if orphans:
            conn.execute(group_facets.delete().where(f.group_id == group_id, f.kind == kind, f.value.in_(orphans)))
