"""Release adoption: distinct installations per release and day, and the day's de-duplication set.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

Tables defined in crashveil.server.db.adoption_tables (which says why the de-duplication set
is dropped at day end). Nothing was counted before this revision: releases have no adoption
data until their installations send pings.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'release_adoption',
        sa.Column('project_id', sa.String(length=63), sa.ForeignKey('projects.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('release', sa.String(length=128), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('installs', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'release', 'day', name='pk_release_adoption'),
    )
    op.create_index('ix_release_adoption_project_id_day', 'release_adoption', ['project_id', 'day'])
    op.create_table(
        'adoption_seen',
        sa.Column('project_id', sa.String(length=63), sa.ForeignKey('projects.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('release', sa.String(length=128), nullable=False),
        sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'day', 'release', 'digest', name='pk_adoption_seen'),
    )


def downgrade() -> None:
    op.drop_table('adoption_seen')
    op.drop_index('ix_release_adoption_project_id_day', table_name='release_adoption')
    op.drop_table('release_adoption')
