"""The group page: the stack signature, representative source lines, daily runtime and environment counts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Columns added to ``crash_groups`` (defined in crashveil.server.db.tables), written at ingest
(``storage.triage``) so the group page reads the group row and never decrypts a report:

- ``signature``: the frames the fingerprint is made of, as JSON ``[[module, function,
  in_app], ...]`` (code names only: no paths, no lines, no values);
- ``source_lines`` / ``source_at``: the newest report's in-app source lines (already
  redacted by the server) as JSON ``[[signature index, line number, text], ...]``, and when
  that report was received (shown only to roles the policy lets read ``source_context``,
  within its retention; retention and erasure forget them).

``group_day_facets`` (crashveil.server.db.triage_tables): reports per group, UTC day and
runtime or environment (the report's ``deployment``), for the group page's distributions.
Groups stored before this revision get no signature until their next report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_COLUMNS = (
    sa.Column('signature', sa.Text(), nullable=True),
    sa.Column('source_lines', sa.Text(), nullable=True),
    sa.Column('source_at', sa.DateTime(), nullable=True),
)


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column('crash_groups', column)
    op.create_table(
        'group_day_facets',
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('crash_groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('value', sa.String(length=128), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('project_id', sa.String(length=63), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('group_id', 'kind', 'value', 'day', name='pk_group_day_facets'),
    )
    op.create_index('ix_group_day_facets_project_id_day', 'group_day_facets', ['project_id', 'day'])


def downgrade() -> None:
    op.drop_index('ix_group_day_facets_project_id_day', table_name='group_day_facets')
    op.drop_table('group_day_facets')
    with op.batch_alter_table('crash_groups') as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column.name)
