"""Alert destinations: webhooks, chat, issue trackers and e-mail, secrets sealed.

Revision ID: 0027
Revises: 0021
Create Date: 2026-12-07

Table defined in crashveil.server.db.tables (destinations): one row per project
and destination name; its secrets sealed under the KEK-wrapped ``destinations`` shared secret.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'destinations',
        sa.Column('project_id', sa.String(length=63), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('config', sa.Text(), nullable=False),
        sa.Column('sealed_secrets', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_destinations_project_id_projects'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'name', name=op.f('pk_destinations')),
    )


def downgrade() -> None:
    op.drop_table('destinations')
