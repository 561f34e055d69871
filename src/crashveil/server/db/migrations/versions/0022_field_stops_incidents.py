"""Field stops and privacy incidents.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

Tables defined in crashveil.server.db.governance_tables. No stop and no incident exists before
this revision: every field is collected as the policy allows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'privacy_incidents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('project_id', sa.String(length=63), nullable=True),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('releases', sa.Text(), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('opened_by', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('summary', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_privacy_incidents'),
    )
    op.create_table(
        'field_stops',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('project_id', sa.String(length=63), nullable=True),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('lifted_at', sa.DateTime(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['privacy_incidents.id'], ondelete='SET NULL',
                                name='fk_field_stops_incident_id_privacy_incidents'),
        sa.PrimaryKeyConstraint('id', name='pk_field_stops'),
    )
    op.create_index('ix_field_stops_project_id_lifted_at', 'field_stops', ['project_id', 'lifted_at'])


def downgrade() -> None:
    op.drop_index('ix_field_stops_project_id_lifted_at', table_name='field_stops')
    op.drop_table('field_stops')
    op.drop_table('privacy_incidents')
