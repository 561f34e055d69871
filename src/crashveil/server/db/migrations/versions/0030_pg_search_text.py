"""PostgreSQL: the trigram search text moves off ``crash_groups`` (ingest throughput).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07

``db.triage_tables`` (its last part) says why: the GIN trigram indexes of 0015 made every report's group update
re-index the group's text. The folded texts now live in ``group_search_text``, kept by
triggers, with the GIN indexes; ``crash_groups`` keeps its generated folded columns (a walk
of the list's sort index still compares them) without the GIN indexes. SQLite: nothing
changes (its FTS5 table is already kept apart, by triggers that fire on text changes only).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


# The statements this migration runs, copied from ``db.triage_tables`` (December 2026):
# a migration must not change when the live code does.
_SEARCH_TEXT_DDL = (   'CREATE TABLE group_search_text (group_id integer PRIMARY KEY REFERENCES crash_groups (id) ON DELETE '
    'CASCADE, project_id varchar(63) NOT NULL, code_folded text, message_folded text, type_folded text)',
    'CREATE FUNCTION crashveil_group_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO '
    'group_search_text (group_id, project_id, code_folded, message_folded, type_folded) VALUES (NEW.id, '
    "NEW.project_id, translate(coalesce(NEW.search_code, NEW.crash_type), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), translate(NEW.title_message, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), translate(NEW.crash_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz')) ON CONFLICT (group_id) DO UPDATE SET code_folded = EXCLUDED.code_folded, "
    'message_folded = EXCLUDED.message_folded, type_folded = EXCLUDED.type_folded; RETURN NULL; END $$',
    'CREATE TRIGGER group_search_text_insert AFTER INSERT ON crash_groups FOR EACH ROW EXECUTE FUNCTION '
    'crashveil_group_search_text()',
    'CREATE TRIGGER group_search_text_update AFTER UPDATE OF search_code, title_message, crash_type ON '
    'crash_groups FOR EACH ROW WHEN (OLD.search_code IS DISTINCT FROM NEW.search_code OR OLD.title_message '
    'IS DISTINCT FROM NEW.title_message OR OLD.crash_type IS DISTINCT FROM NEW.crash_type) EXECUTE FUNCTION '
    'crashveil_group_search_text()',
    'INSERT INTO group_search_text (group_id, project_id, code_folded, message_folded, type_folded) SELECT '
    "id, project_id, translate(coalesce(search_code, crash_type), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), translate(title_message, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), translate(crash_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz') FROM crash_groups")
_SEARCH_TEXT_INDEX_DDL = (   'CREATE INDEX IF NOT EXISTS ix_group_search_text_code_trgm ON group_search_text USING gin (code_folded '
    'gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_group_search_text_message_trgm ON group_search_text USING gin '
    '(message_folded gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_group_search_text_type_trgm ON group_search_text USING gin (type_folded '
    'gin_trgm_ops)')
_TRIGRAM_INDEXES = ('ix_crash_groups_code_folded_trgm', 'ix_crash_groups_message_folded_trgm', 'ix_crash_groups_crash_type_trgm')
_POSTGRES_TRIGRAM_DDL = (   'CREATE EXTENSION IF NOT EXISTS pg_trgm',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_code_folded_trgm ON crash_groups USING gin (code_folded '
    'gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_message_folded_trgm ON crash_groups USING gin '
    '(message_folded gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_crash_type_trgm ON crash_groups USING gin '
    "((translate(crash_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops)")
_SEARCH_TEXT_DROP = (   'DROP TRIGGER IF EXISTS group_search_text_update ON crash_groups',
    'DROP TRIGGER IF EXISTS group_search_text_insert ON crash_groups',
    'DROP FUNCTION IF EXISTS crashveil_group_search_text()',
    'DROP TABLE IF EXISTS group_search_text')


def _has_trigram(bind: sa.Connection) -> bool:
    return bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is not None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return
    for statement in _SEARCH_TEXT_DDL:
        op.execute(statement)
    if _has_trigram(bind):
        for statement in _SEARCH_TEXT_INDEX_DDL:
            op.execute(statement)
    for name in _TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return
    for statement in _SEARCH_TEXT_DROP:
        op.execute(statement)
    if _has_trigram(bind):
        for statement in _POSTGRES_TRIGRAM_DDL[1:]:
            op.execute(statement)
