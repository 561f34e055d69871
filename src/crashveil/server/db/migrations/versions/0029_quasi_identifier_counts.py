"""Quasi-identifier k-anonymity before storage: per-period counts, early installations, rung tallies.

Revision ID: 0029
Revises: 0021
Create Date: 2026-12-07

Tables defined in crashveil.server.linkability.tables (which says what each holds and why
nothing in them outlives its pseudonym period by more than one). Reports stored before this
revision kept their quasi-identifiers as received; the check starts with the next report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0027'
branch_labels = None
depends_on = None


def _project() -> sa.Column[str]:
    return sa.Column('project_id', sa.String(length=63), sa.ForeignKey('projects.id', ondelete='CASCADE'),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        'quasi_class_counts', _project(),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
        sa.Column('installs', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'period', 'digest', name='pk_quasi_class_counts'),
    )
    op.create_table(
        'quasi_early_installs', _project(),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('combination', sa.LargeBinary(length=16), nullable=False),
        sa.Column('install', sa.LargeBinary(length=16), nullable=False),
        sa.Column('rung', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'period', 'combination', 'install', name='pk_quasi_early_installs'),
    )
    op.create_table(
        'quasi_rung_reports', _project(),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('rung', sa.Integer(), nullable=False),
        sa.Column('reports', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'period', 'rung', name='pk_quasi_rung_reports'),
    )


def downgrade() -> None:
    op.drop_table('quasi_rung_reports')
    op.drop_table('quasi_early_installs')
    op.drop_table('quasi_class_counts')
