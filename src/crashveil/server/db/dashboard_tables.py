"""Tables of the dashboard and the public summary (SQLAlchemy Core), on storage's metadata.

- ``dp_releases``: the one differentially private release per project and day or window. It is
  computed once, stored, and served as stored: asking again never draws new noise, so
  repeated queries cannot average the noise away.
- ``dp_budget_ledger``: every spend of privacy budget (epsilon, delta) per project and
  period. A spend is refused if it would take the privacy loss per installation over the
  policy's yearly bound (``insights/accountant.py``); the unique key makes a second
  public-summary spend for the same window impossible even under concurrent writers.
- ``group_status_changes``: the history of resolve / ignore / reopen decisions (the
  current state lives in ``crash_groups.status`` / ``resolved_in``, owned by storage).

Nothing here holds report content or pseudonyms: releases hold noisy counts keyed by
group id, release and OS family only.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, group_rollups, metadata, reports

__all__ = ["dp_releases", "dp_budget_ledger", "group_status_changes"]

# Affected installations of the groups on a dashboard page, as an index-only scan.
sa.Index("ix_reports_group_id_hour_install_id", reports.c.group_id, reports.c.hour, reports.c.install_id)
# Project series and per-range sums as index-only scans.
sa.Index("ix_group_rollups_project_id_hour_group_id_count", group_rollups.c.project_id, group_rollups.c.hour,
         group_rollups.c.group_id, group_rollups.c.count)

dp_releases = sa.Table(
    "dp_releases", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    # A UTC day (2026-05-01) or a window, first and last day (2026-04-27/2026-05-03; migration 0025).
    sa.Column("period", sa.String(24), primary_key=True),
    sa.Column("published_at", UtcDateTime(), nullable=False),
    sa.Column("epsilon", sa.Float(), nullable=False),
    sa.Column("delta", sa.Float(), nullable=False),
    sa.Column("scale", sa.Float(), nullable=False),
    sa.Column("threshold", sa.Integer(), nullable=False),
    sa.Column("min_k", sa.Integer(), nullable=False),
    # JSON: {"groups": {"<id>": n}, "platforms": {"<release>\u241f<os>": n}}
    sa.Column("payload", sa.Text(), nullable=False),
    # Migration 0025: windows (insights/windows.py). NULL: a per-day Laplace release made before.
    sa.Column("window_days", sa.Integer(), nullable=True),
    sa.Column("rho", sa.Float(), nullable=True),
)

dp_budget_ledger = sa.Table(
    "dp_budget_ledger", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("period", sa.String(24), nullable=False),  # as dp_releases.period
    sa.Column("purpose", sa.String(32), nullable=False),  # "public-summary"
    sa.Column("epsilon", sa.Float(), nullable=False),
    sa.Column("delta", sa.Float(), nullable=False),
    sa.Column("spent_at", UtcDateTime(), nullable=False),
    # zCDP spend of a window (insights/accountant.py; migration 0025). NULL: a pure epsilon-DP spend.
    sa.Column("rho", sa.Float(), nullable=True),
    sa.UniqueConstraint("project_id", "period", "purpose"),
)

group_status_changes = sa.Table(
    "group_status_changes", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), nullable=False),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved | ignored
    sa.Column("resolved_in", sa.String(128), nullable=True),
    # What a resolve or ignore waited for, in words ("in the next release after 1.4",
    # "until 2026-12-31", ...; migration 0014).
    sa.Column("condition", sa.String(160), nullable=True),
    sa.Column("changed_by", sa.String(128), nullable=False),
    sa.Column("changed_at", UtcDateTime(), nullable=False),
    sa.Index(None, "group_id", "changed_at"),
)
