"""Dashboard speed and erasure: trigram search on both engines, environment and platform per report.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

- Search (``db.triage_tables`` says how): SQLite's ``group_search`` is rebuilt so a group
  without an in-app frame is found by its type (the code text is ``search_code``, else
  ``crash_type``); PostgreSQL gets the ASCII-folded code text and message template as
  stored generated columns, ``pg_trgm`` and GIN trigram indexes on them and on the folded type. When the extension cannot be created (the role may not),
  a warning is logged and the indexes are left out: searches stay correct, only slower.
- ``reports.deployment`` / ``reports.platform``: the report's deployment (the list's
  "environment") and platform, as its release and OS family are kept (policy fields of the
  same sensitivity and retention), so an erasure can tell which environment and platform
  facets only the erased reports showed (``storage.erasure_groups``). ``""``: none given;
  NULL: stored before this revision (unknown, so such a group keeps those facets).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


# The statements this migration runs, copied from ``db.triage_tables`` (December 2026):
# a migration must not change when the live code does.
_SQLITE_SEARCH_DDL = (   "CREATE VIRTUAL TABLE group_search USING fts5(code, message, tokenize='trigram')",
    'INSERT INTO group_search (rowid, code, message) SELECT id, coalesce(search_code, crash_type), '
    'title_message FROM crash_groups',
    'CREATE TRIGGER group_search_insert AFTER INSERT ON crash_groups BEGIN INSERT INTO group_search (rowid, '
    'code, message) VALUES (new.id, coalesce(new.search_code, new.crash_type), new.title_message); END',
    'CREATE TRIGGER group_search_update AFTER UPDATE OF search_code, title_message ON crash_groups WHEN '
    'old.search_code IS NOT new.search_code OR old.title_message IS NOT new.title_message BEGIN UPDATE '
    'group_search SET code = coalesce(new.search_code, new.crash_type), message = new.title_message WHERE '
    'rowid = new.id; END',
    'CREATE TRIGGER group_search_delete AFTER DELETE ON crash_groups BEGIN DELETE FROM group_search WHERE '
    'rowid = old.id; END')
_SQLITE_SEARCH_DROP = (   'DROP TRIGGER IF EXISTS group_search_delete',
    'DROP TRIGGER IF EXISTS group_search_update',
    'DROP TRIGGER IF EXISTS group_search_insert',
    'DROP TABLE IF EXISTS group_search')
_POSTGRES_FOLDED_DDL = (   'ALTER TABLE crash_groups ADD COLUMN code_folded text GENERATED ALWAYS AS '
    "(translate(coalesce(search_code, crash_type), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz')) STORED",
    'ALTER TABLE crash_groups ADD COLUMN message_folded text GENERATED ALWAYS AS (translate(title_message, '
    "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED")
_POSTGRES_TRIGRAM_DDL = (   'CREATE EXTENSION IF NOT EXISTS pg_trgm',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_code_folded_trgm ON crash_groups USING gin (code_folded '
    'gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_message_folded_trgm ON crash_groups USING gin '
    '(message_folded gin_trgm_ops)',
    'CREATE INDEX IF NOT EXISTS ix_crash_groups_crash_type_trgm ON crash_groups USING gin '
    "((translate(crash_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops)")
_TRIGRAM_INDEXES = {   'ix_crash_groups_code_folded_trgm': 'code_folded',
    'ix_crash_groups_crash_type_trgm': "(translate(crash_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                                       "'abcdefghijklmnopqrstuvwxyz'))",
    'ix_crash_groups_message_folded_trgm': 'message_folded'}

#: 0013's search table, for the downgrade.
_SQLITE_SEARCH_0013 = (
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


def upgrade() -> None:
    op.add_column('reports', sa.Column('deployment', sa.String(length=128), nullable=True))
    op.add_column('reports', sa.Column('platform', sa.String(length=128), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for statement in (*_SQLITE_SEARCH_DROP, *_SQLITE_SEARCH_DDL):
            op.execute(statement)
        return
    for statement in _POSTGRES_FOLDED_DDL:
        op.execute(statement)
    try:
        with bind.begin_nested():  # a savepoint: a refused CREATE EXTENSION leaves the migration going
            bind.exec_driver_sql(_POSTGRES_TRIGRAM_DDL[0])
    except sa.exc.DBAPIError as exc:
        logging.getLogger("crashveil.server.db").warning(
            "pg_trgm could not be created (%s): the group list's search works without its trigram indexes,"
            " slower; a superuser can create the extension and the indexes (db.triage_tables."
            "POSTGRES_TRIGRAM_DDL)", type(exc.orig).__name__)
        return
    for statement in _POSTGRES_TRIGRAM_DDL[1:]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for statement in (*_SQLITE_SEARCH_DROP, *_SQLITE_SEARCH_0013):
            op.execute(statement)
    else:
        for name in _TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        for column in ('message_folded', 'code_folded'):
            op.execute(f"ALTER TABLE crash_groups DROP COLUMN {column}")
    with op.batch_alter_table('reports') as batch:
        batch.drop_column('platform')
        batch.drop_column('deployment')
