"""Triage actions: resolve in the next release, ignore until a condition, merged groups, an
external issue link, and internal notes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Columns added to ``crash_groups`` (defined in crashveil.server.db.tables; the rules are in
crashveil.server.ingest.grouping):

- ``resolved_after``: resolved "in the next release": the newest release the project had
  seen then; a report of a later release is a regression;
- ``ignored_until`` / ``ignored_until_count`` / ``ignored_until_release``: an ignored group
  comes back (open) at that time, when its report count reaches that total, or when it is
  seen in a release after that one; ``ignore_ended`` / ``ignore_ended_at``: which of them
  ended the last ignore, and when (the page's "ignored until ... ended" flag);
- ``merged_into``: the group this one's reports go to since a merge (no foreign key: SQLite
  cannot add one without rebuilding the table and its search triggers; retention keeps a
  merged group while its primary exists);
- ``external_url``: a linked issue in another tracker (http or https).

``group_notes`` (crashveil.server.db.triage_tables): internal notes on a group, redacted on
the way in, deleted with their group. ``group_status_changes.condition``: what a resolve or
ignore was conditioned on, in words. Nothing before this revision changes meaning.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_COLUMNS = (
    sa.Column('resolved_after', sa.String(length=128), nullable=True),
    sa.Column('ignored_until', sa.DateTime(), nullable=True),
    sa.Column('ignored_until_count', sa.Integer(), nullable=True),
    sa.Column('ignored_until_release', sa.String(length=128), nullable=True),
    sa.Column('ignore_ended', sa.String(length=16), nullable=True),
    sa.Column('ignore_ended_at', sa.DateTime(), nullable=True),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('external_url', sa.String(length=1000), nullable=True),
)
_IGNORED_INDEX = 'ix_crash_groups_project_id_ignored_until'
_MERGED_INDEX = 'ix_crash_groups_merged_into'


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column('crash_groups', column)
    op.create_index(_IGNORED_INDEX, 'crash_groups', ['project_id', 'ignored_until'],
                    sqlite_where=sa.text('ignored_until IS NOT NULL'),
                    postgresql_where=sa.text('ignored_until IS NOT NULL'))
    op.create_index(_MERGED_INDEX, 'crash_groups', ['merged_into'],
                    sqlite_where=sa.text('merged_into IS NOT NULL'),
                    postgresql_where=sa.text('merged_into IS NOT NULL'))
    op.add_column('group_status_changes', sa.Column('condition', sa.String(length=160), nullable=True))
    op.create_table(
        'group_notes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('crash_groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('project_id', sa.String(length=63), nullable=False),
        sa.Column('author', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
    )
    op.create_index('ix_group_notes_group_id_created_at', 'group_notes', ['group_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_group_notes_group_id_created_at', table_name='group_notes')
    op.drop_table('group_notes')
    op.execute('ALTER TABLE group_status_changes DROP COLUMN condition')
    op.drop_index(_MERGED_INDEX, table_name='crash_groups')
    op.drop_index(_IGNORED_INDEX, table_name='crash_groups')
    # Plain DROP COLUMN (SQLite >= 3.35 has it): a batch rebuild would lose the search triggers.
    for column in reversed(_COLUMNS):
        op.execute(f'ALTER TABLE crash_groups DROP COLUMN {column.name}')
