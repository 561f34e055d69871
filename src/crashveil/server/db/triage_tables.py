"""The triage list's table and indexes (migration 0013), on storage's metadata.

- ``group_facets``: which releases, environments (the report's ``deployment``), platforms
  and OS families a group has been seen with, one row per (group, kind, value), written at
  ingest (insert-or-ignore). The list's filters are ``id IN (groups with that facet)``, an
  index range; "releases affected" reads the facets of the page's groups.
- indexes on ``crash_groups`` for each sort of the list, so keyset pagination reads an
  index range: ``(project_id, total_count, id)``, ``(project_id, install_count, id)``,
  ``(project_id, day_key, trend, id)`` (the trend: today's groups in order), ``(project_id,
  first_seen, id)``; ``(project_id, last_seen, id)`` (tables.py). Each ends with ``id``, the
  keyset's tie-breaker (migration 0031), so PostgreSQL walks a page without sorting ties.

Search (migration 0015). The searchable code text of a group is :func:`code_text`:
``search_code`` ("type culprit modules"), or the type alone for a group without an in-app
frame. A search is a substring match, case-insensitive for ASCII letters only (SQLite's
``LIKE``; PostgreSQL folds the same letters with ``translate``, :func:`fold_ascii`), so both
engines find the same groups. Each engine has a trigram index that turns a rare term into a
few candidate ids:

- SQLite (:data:`SQLITE_SEARCH_DDL`): ``group_search``, an FTS5 table with the trigram
  tokenizer over the code text and ``title_message``, kept by triggers on ``crash_groups``
  (an update trigger fires only when the text changes); a ``LIKE '%text%'`` on its columns
  is answered from the index.
- PostgreSQL: the code text and message, ASCII-folded, as stored generated columns
  (:data:`POSTGRES_FOLDED_DDL`: a walk compares them with a plain ``LIKE``, ~5x cheaper than
  folding each row at query time), and GIN ``gin_trgm_ops`` indexes on them and on the
  folded type (:data:`POSTGRES_TRIGRAM_DDL`, extension ``pg_trgm``, part of Debian's
  ``postgresql`` package). Without the extension (a role that may not create it) the
  indexes are missing and the list walks the sort's index instead (slower for rare terms,
  same results).

``group_notes`` (migration 0014): internal notes staff write on a group. The text is
redacted with the project policy's detectors before it is stored (``dashboard.triage.actions``)
and shown only on the group page, escaped; notes go with their group. Two partial indexes
on ``crash_groups`` find ignores that end at a time and groups merged into another.

Facet values are policy fields every role that reads aggregates may see (release,
deployment, platform, OS family); nothing here holds report content or pseudonyms.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, crash_groups, metadata

__all__ = ["DAY_FACET_KINDS", "FACET_KINDS", "NOTE_CHARS", "POSTGRES_FOLDED_DDL", "POSTGRES_TRIGRAM_DDL",
           "SQLITE_SEARCH_DDL", "TRIGRAM_INDEXES", "code_folded", "code_text", "fold_ascii", "group_day_facets",
           "group_facets", "group_notes", "group_search", "message_folded",
           "SEARCH_TEXT_DDL", "SEARCH_TEXT_DROP", "SEARCH_TEXT_INDEXES", "group_search_text", "search_text_index_ddl"]

#: Facet kinds, as stored.
FACET_KINDS = ("release", "environment", "platform", "os")

sa.Index("ix_crash_groups_project_id_total_count_id", crash_groups.c.project_id, crash_groups.c.total_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_install_count_id", crash_groups.c.project_id, crash_groups.c.install_count,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_day_key_trend_id", crash_groups.c.project_id, crash_groups.c.day_key,
         crash_groups.c.trend, crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_first_seen_id", crash_groups.c.project_id, crash_groups.c.first_seen,
         crash_groups.c.id)
sa.Index("ix_crash_groups_project_id_ignored_until", crash_groups.c.project_id, crash_groups.c.ignored_until,
         sqlite_where=crash_groups.c.ignored_until.is_not(None),
         postgresql_where=crash_groups.c.ignored_until.is_not(None))
sa.Index("ix_crash_groups_merged_into", crash_groups.c.merged_into,
         sqlite_where=crash_groups.c.merged_into.is_not(None), postgresql_where=crash_groups.c.merged_into.is_not(None))

#: The longest note, in characters.
NOTE_CHARS = 2000

group_facets = sa.Table(
    "group_facets", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # release | environment | platform | os
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Index(None, "project_id", "kind", "value", "group_id"),
)

group_notes = sa.Table(
    "group_notes", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), nullable=False),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("author", sa.String(128), nullable=False),  # user:<id>, the audit trail's actor form
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),  # redacted, at most NOTE_CHARS
    sa.Index(None, "group_id", "created_at"),
)

_CODE_TEXT_SQL = "coalesce({t}search_code, {t}crash_type)"

#: Day facet kinds (migration 0016), as stored.
DAY_FACET_KINDS = ("runtime", "environment")

#: Reports per group, UTC day and runtime (``python_impl python_version``) or environment
#: (the report's ``deployment``): the group page's distributions of what the roll-ups do
#: not hold (migration 0016). Counts only; retention drops a day with the daily roll-ups.
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

#: The FTS5 search table and the triggers that keep it (SQLite; migrations 0013 and 0015 run a frozen copy).
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE group_search USING fts5(code, message, tokenize='trigram')",
    "INSERT INTO group_search (rowid, code, message) SELECT id, coalesce(search_code, crash_type), title_message"
    " FROM crash_groups",
    "CREATE TRIGGER group_search_insert AFTER INSERT ON crash_groups BEGIN"
    " INSERT INTO group_search (rowid, code, message)"
    " VALUES (new.id, coalesce(new.search_code, new.crash_type), new.title_message); END",
    "CREATE TRIGGER group_search_update AFTER UPDATE OF search_code, title_message ON crash_groups"
    " WHEN old.search_code IS NOT new.search_code OR old.title_message IS NOT new.title_message BEGIN"
    " UPDATE group_search SET code = coalesce(new.search_code, new.crash_type), message = new.title_message"
    " WHERE rowid = new.id; END",
    "CREATE TRIGGER group_search_delete AFTER DELETE ON crash_groups BEGIN"
    " DELETE FROM group_search WHERE rowid = old.id; END",
)
#: Drops what :data:`SQLITE_SEARCH_DDL` made.
SQLITE_SEARCH_DROP = ("DROP TRIGGER IF EXISTS group_search_delete", "DROP TRIGGER IF EXISTS group_search_update",
                      "DROP TRIGGER IF EXISTS group_search_insert", "DROP TABLE IF EXISTS group_search")

_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_FOLD_SQL = f"translate({{}}, '{_UPPER}', '{_LOWER}')"
#: PostgreSQL's ASCII-folded copies of the searched texts (generated columns, not in
#: ``metadata``: SQLite has none; :func:`code_folded`, :func:`message_folded` read them).
POSTGRES_FOLDED_DDL = tuple(
    f"ALTER TABLE crash_groups ADD COLUMN {name} text GENERATED ALWAYS AS ({_FOLD_SQL.format(source)}) STORED"
    for name, source in (("code_folded", _CODE_TEXT_SQL.format(t="")), ("message_folded", "title_message")))
#: PostgreSQL's trigram indexes (name -> indexed expression); the type's is exactly the
#: expression :func:`fold_ascii` builds, so the planner matches a ``LIKE`` on it to the index.
TRIGRAM_INDEXES = {
    "ix_crash_groups_code_folded_trgm": "code_folded",
    "ix_crash_groups_message_folded_trgm": "message_folded",
    "ix_crash_groups_crash_type_trgm": f"({_FOLD_SQL.format('crash_type')})",
}
#: The extension, then the indexes (PostgreSQL; migration 0015 runs a frozen copy when the extension can be made).
POSTGRES_TRIGRAM_DDL = ("CREATE EXTENSION IF NOT EXISTS pg_trgm", *(
    f"CREATE INDEX IF NOT EXISTS {name} ON crash_groups USING gin ({expression} gin_trgm_ops)"
    for name, expression in TRIGRAM_INDEXES.items()))


def code_text(table: sa.Table = crash_groups) -> sa.ColumnElement[str]:
    """A group's searchable code text: ``search_code``, else its type (no in-app frame)."""
    return sa.func.coalesce(table.c.search_code, table.c.crash_type)


def code_folded() -> sa.ColumnElement[str]:
    """PostgreSQL: :func:`code_text` with ASCII capitals made small (a stored column)."""
    return sa.literal_column("crash_groups.code_folded", sa.Text())


def message_folded() -> sa.ColumnElement[str]:
    """PostgreSQL: ``title_message`` with ASCII capitals made small (a stored column)."""
    return sa.literal_column("crash_groups.message_folded", sa.Text())


def fold_ascii(expression: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``expression`` with ASCII capitals made small, as SQLite's ``LIKE`` compares (PostgreSQL).
    The letters are SQL literals, not parameters, so the expression matches the index's."""
    return sa.func.translate(expression, sa.literal_column(f"'{_UPPER}'"), sa.literal_column(f"'{_LOWER}'"))


#: The search table as queries see it (not in ``metadata``: the migration makes it, on SQLite only).
group_search = sa.Table(
    "group_search", sa.MetaData(),
    sa.Column("rowid", sa.Integer(), primary_key=True),
    sa.Column("code", sa.Text()),
    sa.Column("message", sa.Text()),
)


# --- PostgreSQL's search text, beside crash_groups (migration 0030) ---------------------------------
#
# Migration 0015 put the GIN trigram indexes on ``crash_groups`` itself. Every report updates
# its group's row (counts, last seen, trend), and the list's sort indexes on those columns
# make each such update a non-HOT one, which inserts a new entry into *every* index of the
# table: each report re-indexed its group's code text and message as hundreds of trigrams
# (~150 us of PostgreSQL CPU per updated group, most of a group update's cost). Here the
# folded texts live in ``group_search_text``, one row per group, written by triggers on
# ``crash_groups`` only when a group is created or its searched text changes (as SQLite's
# FTS5 ``group_search`` is kept, above); the GIN indexes are on this table.
# Deleting a group deletes its row (foreign key, cascade).
#
# The folding is :func:`fold_ascii`'s (ASCII capitals made
# small), so a search finds the same groups as before. Without ``pg_trgm`` the table and its
# triggers still exist and the indexes are missing (the list's search walks, as before).

#: The table as queries see it (not in ``metadata``: PostgreSQL only, made by migration 0030).
group_search_text = sa.Table(
    "group_search_text", sa.MetaData(),
    sa.Column("group_id", sa.Integer(), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("code_folded", sa.Text()),  # fold(coalesce(search_code, crash_type))
    sa.Column("message_folded", sa.Text()),  # fold(title_message)
    sa.Column("type_folded", sa.Text()),  # fold(crash_type)
)

_FOLDED = (f"{_FOLD_SQL.format('coalesce(NEW.search_code, NEW.crash_type)')}, {_FOLD_SQL.format('NEW.title_message')}, "
           f"{_FOLD_SQL.format('NEW.crash_type')}")

#: The table, the trigger function and its triggers, and the backfill (PostgreSQL).
SEARCH_TEXT_DDL = (
    "CREATE TABLE group_search_text (group_id integer PRIMARY KEY REFERENCES crash_groups (id) ON DELETE CASCADE,"
    " project_id varchar(63) NOT NULL, code_folded text, message_folded text, type_folded text)",
    "CREATE FUNCTION crashveil_group_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO group_search_text (group_id, project_id, code_folded, message_folded, type_folded)"
    f" VALUES (NEW.id, NEW.project_id, {_FOLDED})"
    " ON CONFLICT (group_id) DO UPDATE SET code_folded = EXCLUDED.code_folded,"
    " message_folded = EXCLUDED.message_folded, type_folded = EXCLUDED.type_folded;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER group_search_text_insert AFTER INSERT ON crash_groups"
    " FOR EACH ROW EXECUTE FUNCTION crashveil_group_search_text()",
    "CREATE TRIGGER group_search_text_update AFTER UPDATE OF search_code, title_message, crash_type ON crash_groups"
    " FOR EACH ROW WHEN (OLD.search_code IS DISTINCT FROM NEW.search_code"
    " OR OLD.title_message IS DISTINCT FROM NEW.title_message OR OLD.crash_type IS DISTINCT FROM NEW.crash_type)"
    " EXECUTE FUNCTION crashveil_group_search_text()",
    "INSERT INTO group_search_text (group_id, project_id, code_folded, message_folded, type_folded)"
    f" SELECT id, project_id, {_FOLDED.replace('NEW.', '')} FROM crash_groups",
)
#: The GIN trigram indexes (name -> column); made when ``pg_trgm`` exists.
SEARCH_TEXT_INDEXES = {
    "ix_group_search_text_code_trgm": "code_folded",
    "ix_group_search_text_message_trgm": "message_folded",
    "ix_group_search_text_type_trgm": "type_folded",
}
#: Drops what :data:`SEARCH_TEXT_DDL` made (the indexes go with the table).
SEARCH_TEXT_DROP = (
    "DROP TRIGGER IF EXISTS group_search_text_update ON crash_groups",
    "DROP TRIGGER IF EXISTS group_search_text_insert ON crash_groups",
    "DROP FUNCTION IF EXISTS crashveil_group_search_text()",
    "DROP TABLE IF EXISTS group_search_text",
)


def search_text_index_ddl() -> tuple[str, ...]:
    """``CREATE INDEX`` of each of :data:`SEARCH_TEXT_INDEXES` (needs ``pg_trgm``)."""
    return tuple(f"CREATE INDEX IF NOT EXISTS {name} ON group_search_text USING gin ({column} gin_trgm_ops)"
                 for name, column in SEARCH_TEXT_INDEXES.items())
