"""The triage list's table and indexes (migration 0013), on storage's metadata.

- ``group_facets``: which releases, environments (the report's ``deployment``), platforms
  and OS families a group has been seen with, one row per (group, kind, value), written at
  ingest (insert-or-ignore). The list's filters are ``id IN (groups with that facet)``, an
  index range; "releases affected" reads the facets of the page's groups.
- indexes on ``crash_groups`` for each sort of the list, so keyset pagination reads an
  index range: ``(project_id, total_count, id)``, ``(project_id, install_count, id)``,
  ``(project_id, day_key)`` (the trend: groups seen since yesterday), ``(project_id,
  first_seen)``; ``(project_id, last_seen)`` exists since 0001.

Facet values are policy fields every role that reads aggregates may see (release,
deployment, platform, OS family); nothing here holds report content or pseudonyms.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import crash_groups, metadata

__all__ = ["FACET_KINDS", "group_facets"]

#: Facet kinds, as stored.
FACET_KINDS = ("release", "environment", "platform", "os")

sa.Index("ix_crash_groups_project_id_total_count_id", crash_groups.c.project_id, crash_groups.c.total_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_install_count_id", crash_groups.c.project_id, crash_groups.c.install_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_day_key", crash_groups.c.project_id, crash_groups.c.day_key)
sa.Index("ix_crash_groups_project_id_first_seen", crash_groups.c.project_id, crash_groups.c.first_seen)

group_facets = sa.Table(
    "group_facets", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # release | environment | platform | os
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Index(None, "project_id", "kind", "value", "group_id"),
)
