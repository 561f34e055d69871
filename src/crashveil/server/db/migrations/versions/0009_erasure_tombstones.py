"""Erasure tombstones: keyed digests of erased install pseudonyms and report ids, with the
time of the erasure, so that an erased installation's earlier reports are refused for as
long as the replay window could let them in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

The table is defined in crashveil.server.db.tables (see crashveil.server.governance.tombstones).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erasure_tombstones',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('erased_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_erasure_tombstones_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'digest', name=op.f('pk_erasure_tombstones'))
    )
    op.create_index(op.f('ix_erasure_tombstones_erased_at'), 'erasure_tombstones', ['erased_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_erasure_tombstones_erased_at'), table_name='erasure_tombstones')
    op.drop_table('erasure_tombstones')
