"""PostgreSQL's trigram search text, kept beside ``crash_groups`` (migration 0030).

Migration 0015 put the GIN trigram indexes on ``crash_groups`` itself. Every report updates
its group's row (counts, last seen, trend), and the list's sort indexes on those columns
make each such update a non-HOT one, which inserts a new entry into *every* index of the
table: each report re-indexed its group's code text and message as hundreds of trigrams
(~150 us of PostgreSQL CPU per updated group, most of a group update's cost). Here the
folded texts live in ``group_search_text``, one row per group, written by triggers on
``crash_groups`` only when a group is created or its searched text changes (as SQLite's
FTS5 ``group_search`` is kept, ``db.triage_tables``); the GIN indexes are on this table.
Deleting a group deletes its row (foreign key, cascade).

The folding is :func:`crashveil.server.db.triage_tables.fold_ascii`'s (ASCII capitals made
small), so a search finds the same groups as before. Without ``pg_trgm`` the table and its
triggers still exist and the indexes are missing (the list's search walks, as before).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["SEARCH_TEXT_DDL", "SEARCH_TEXT_DROP", "SEARCH_TEXT_INDEXES", "group_search_text"]

_FOLD = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

#: The table as queries see it (not in ``metadata``: PostgreSQL only, made by migration 0030).
group_search_text = sa.Table(
    "group_search_text", sa.MetaData(),
    sa.Column("group_id", sa.Integer(), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("code_folded", sa.Text()),  # fold(coalesce(search_code, crash_type))
    sa.Column("message_folded", sa.Text()),  # fold(title_message)
    sa.Column("type_folded", sa.Text()),  # fold(crash_type)
)

_FOLDED = (f"{_FOLD.format('coalesce(NEW.search_code, NEW.crash_type)')}, {_FOLD.format('NEW.title_message')}, "
           f"{_FOLD.format('NEW.crash_type')}")

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


def index_ddl() -> tuple[str, ...]:
    """``CREATE INDEX`` of each of :data:`SEARCH_TEXT_INDEXES` (needs ``pg_trgm``)."""
    return tuple(f"CREATE INDEX IF NOT EXISTS {name} ON group_search_text USING gin ({column} gin_trgm_ops)"
                 for name, column in SEARCH_TEXT_INDEXES.items())
