"""Counts-only mode weighed by credential: per group x credential reports of the current
hour, the group's weighted hour count, and since when it is in counts-only mode.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-15

Tables are defined in crashveil.server.db.tables. Groups already in counts-only mode get
``counts_only_since`` (so their end is audited) and their report count as weight.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_credential_hours',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('credential', sa.String(length=40), nullable=False),
    sa.Column('hour', sa.String(length=17), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['crash_groups.id'],
                            name=op.f('fk_group_credential_hours_group_id_crash_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'credential', name=op.f('pk_group_credential_hours'))
    )
    with op.batch_alter_table('crash_groups') as batch:
        batch.add_column(sa.Column('hour_weight', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('counts_only_since', sa.DateTime(), nullable=True))
    op.execute("UPDATE crash_groups SET hour_weight = hour_count")
    op.execute("UPDATE crash_groups SET counts_only_since = counts_only_until WHERE counts_only_until IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('crash_groups') as batch:
        batch.drop_column('counts_only_since')
        batch.drop_column('hour_weight')
    op.drop_table('group_credential_hours')
