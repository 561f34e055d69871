"""Counts-only mode scoped to one credential: per group x credential, until and since when
that credential alone is in counts-only mode for the group.

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-20

Table defined in crashveil.server.db.tables. No pair is in the mode before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('group_credential_hours') as batch:
        batch.add_column(sa.Column('counts_only_until', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('counts_only_since', sa.DateTime(), nullable=True))
    op.create_index('ix_group_credential_hours_scoped', 'group_credential_hours', ['credential'], unique=False,
                    sqlite_where=sa.text('counts_only_since IS NOT NULL'),
                    postgresql_where=sa.text('counts_only_since IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_group_credential_hours_scoped', table_name='group_credential_hours')
    with op.batch_alter_table('group_credential_hours') as batch:
        batch.drop_column('counts_only_since')
        batch.drop_column('counts_only_until')
