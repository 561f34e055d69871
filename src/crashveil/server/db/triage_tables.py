"""The triage list's table and indexes (migration 0013), on storage's metadata.

- ``group_facets``: which releases, environments (the report's ``deployment``), platforms
  and OS families a group has been seen with, one row per (group, kind, value), written at
  ingest (insert-or-ignore). The list's filters are ``id IN (groups with that facet)``, an
  index range; "releases affected" reads the facets of the page's groups.
- indexes on ``crash_groups`` for each sort of the list, so keyset pagination reads an
  index range: ``(project_id, total_count, id)``, ``(project_id, install_count, id)``,
  ``(project_id, day_key, trend, id)`` (the trend: today's groups in order), ``(project_id,
  first_seen)``; ``(project_id, last_seen)`` exists since 0001.

``group_search`` (SQLite only; :data:`SQLITE_SEARCH_DDL`): an FTS5 table with the trigram
tokenizer over each group's ``search_code`` and ``title_message``, kept by triggers on
``crash_groups`` (a message trigger fires only when the text changes). A ``LIKE '%text%'``
on its columns is answered from the trigram index, so a search that matches few groups
(or none) reads those few instead of walking 100k groups. PostgreSQL searches the columns
with ``ILIKE`` (a ``pg_trgm`` index would be its equivalent).

Facet values are policy fields every role that reads aggregates may see (release,
deployment, platform, OS family); nothing here holds report content or pseudonyms.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import crash_groups, metadata

__all__ = ["DAY_FACET_KINDS", "FACET_KINDS", "SQLITE_SEARCH_DDL", "group_day_facets", "group_facets", "group_search"]

#: Facet kinds, as stored.
FACET_KINDS = ("release", "environment", "platform", "os")

sa.Index("ix_crash_groups_project_id_total_count_id", crash_groups.c.project_id, crash_groups.c.total_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_install_count_id", crash_groups.c.project_id, crash_groups.c.install_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_day_key_trend_id", crash_groups.c.project_id, crash_groups.c.day_key,
         crash_groups.c.trend, crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_first_seen", crash_groups.c.project_id, crash_groups.c.first_seen)

group_facets = sa.Table(
    "group_facets", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # release | environment | platform | os
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Index(None, "project_id", "kind", "value", "group_id"),
)

#: Day facet kinds (migration 0014g), as stored.
DAY_FACET_KINDS = ("runtime", "environment")

#: Reports per group, UTC day and runtime (``python_impl python_version``) or environment
#: (the report's ``deployment``): the group page's distributions of what the roll-ups do
#: not hold (migration 0014g). Counts only; retention drops a day with the daily roll-ups.
group_day_facets = sa.Table(
    "group_day_facets", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # runtime | environment
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "project_id", "day"),
)

#: The FTS5 search table and the triggers that keep it (SQLite; run by migration 0013).
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE group_search USING fts5(code, message, tokenize='trigram')",
    "INSERT INTO group_search (rowid, code, message) SELECT id, search_code, title_message FROM crash_groups",
    "CREATE TRIGGER group_search_insert AFTER INSERT ON crash_groups BEGIN"
    " INSERT INTO group_search (rowid, code, message) VALUES (new.id, new.search_code, new.title_message); END",
    "CREATE TRIGGER group_search_update AFTER UPDATE OF search_code, title_message ON crash_groups"
    " WHEN old.search_code IS NOT new.search_code OR old.title_message IS NOT new.title_message BEGIN"
    " UPDATE group_search SET code = new.search_code, message = new.title_message WHERE rowid = new.id; END",
    "CREATE TRIGGER group_search_delete AFTER DELETE ON crash_groups BEGIN"
    " DELETE FROM group_search WHERE rowid = old.id; END",
)
#: Drops what :data:`SQLITE_SEARCH_DDL` made.
SQLITE_SEARCH_DROP = ("DROP TRIGGER IF EXISTS group_search_delete", "DROP TRIGGER IF EXISTS group_search_update",
                      "DROP TRIGGER IF EXISTS group_search_insert", "DROP TABLE IF EXISTS group_search")

#: The search table as queries see it (not in ``metadata``: the migration makes it, on SQLite only).
group_search = sa.Table(
    "group_search", sa.MetaData(),
    sa.Column("rowid", sa.Integer(), primary_key=True),
    sa.Column("code", sa.Text()),
    sa.Column("message", sa.Text()),
)
