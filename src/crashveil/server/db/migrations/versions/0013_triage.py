"""The triage list: group titles, all-time installs and trend, facets, assignee, and their indexes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Columns added to ``crash_groups`` (defined in crashveil.server.db.tables), all written at
ingest so the group list reads one table and never decrypts a report:

- ``culprit``: the top in-app frame as ``module.function``; ``search_code``: the exception
  type, the culprit and the stack's in-app modules, space-separated (the free-text search
  reads one column with one LIKE);
- ``title_message`` / ``title_message_at``: the group's latest redacted message template
  and when it was seen (shown only to roles the policy lets read messages, and only within
  the messages' retention);
- ``installs`` / ``install_count``: an install sketch of the whole group and its estimate;
- ``day_key`` / ``day_count`` / ``prev_day_count`` / ``trend``: reports on the latest
  received day and the day before it, and their difference (the list's trend sort reads
  ``(project_id, day_key, trend, id)`` for today in index order);
- ``assignee``: the user a group is assigned to.

``group_search`` (SQLite): an FTS5 trigram index over the search text and message template,
kept by triggers. ``group_facets`` (crashveil.server.db.triage_tables): which releases, environments
(deployments), platforms and OS families a group has been seen with. Groups stored before
this revision get no title parts and no facets until their next report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
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

_COLUMNS = (
    sa.Column('culprit', sa.String(length=256), nullable=True),
    sa.Column('search_code', sa.String(length=800), nullable=True),
    sa.Column('title_message', sa.String(length=256), nullable=True),
    sa.Column('title_message_at', sa.DateTime(), nullable=True),
    sa.Column('installs', sa.LargeBinary(), nullable=True),
    sa.Column('install_count', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('day_key', sa.String(length=10), nullable=True),
    sa.Column('day_count', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('prev_day_count', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('trend', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('assignee', sa.String(length=128), nullable=True),
)


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column('crash_groups', column)
    op.create_index('ix_crash_groups_project_id_total_count_id', 'crash_groups', ['project_id', 'total_count', 'id'])
    op.create_index('ix_crash_groups_project_id_install_count_id', 'crash_groups',
                    ['project_id', 'install_count', 'id'])
    op.create_index('ix_crash_groups_project_id_day_key_trend_id', 'crash_groups',
                    ['project_id', 'day_key', 'trend', 'id'])
    op.create_index('ix_crash_groups_project_id_first_seen', 'crash_groups', ['project_id', 'first_seen'])
    op.create_table(
        'group_facets',
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('crash_groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('value', sa.String(length=128), nullable=False),
        sa.Column('project_id', sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint('group_id', 'kind', 'value', name='pk_group_facets'),
    )
    op.create_index('ix_group_facets_project_id_kind_value_group_id', 'group_facets',
                    ['project_id', 'kind', 'value', 'group_id'])
    if op.get_bind().dialect.name == 'sqlite':
        for statement in _search_ddl()[0]:
            op.execute(statement)


def _search_ddl() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The SQLite search table's statements (create, drop): ``db.triage_tables`` says why."""
    return _SQLITE_SEARCH_DDL, _SQLITE_SEARCH_DROP


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for statement in _search_ddl()[1]:
            op.execute(statement)
    op.drop_index('ix_group_facets_project_id_kind_value_group_id', table_name='group_facets')
    op.drop_table('group_facets')
    for name in ('ix_crash_groups_project_id_first_seen', 'ix_crash_groups_project_id_day_key_trend_id',
                 'ix_crash_groups_project_id_install_count_id', 'ix_crash_groups_project_id_total_count_id'):
        op.drop_index(name, table_name='crash_groups')
    with op.batch_alter_table('crash_groups') as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column.name)
