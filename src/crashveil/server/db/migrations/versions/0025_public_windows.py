"""Public summary over windows, accounted in zCDP.

Revision ID: 0025
Revises: 0021
Create Date: 2026-12-07

``dp_releases.window_days`` / ``dp_releases.rho``: a release now covers a window of days
(``aggregation.window_days``) with Gaussian noise; NULL on the per-day Laplace releases made
before. ``dp_budget_ledger.rho``: the zCDP spend of a window (``insights/accountant.py``);
NULL rows are pure epsilon-DP spends and count as ``epsilon**2 / 2``. ``period`` of both
tables widens to 24 characters to hold a window, ``2026-11-30/2026-12-06`` (a day stays
``2026-11-30``, so stored daily releases are found as before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dp_releases') as batch:
        batch.alter_column('period', existing_type=sa.String(10), type_=sa.String(24), existing_nullable=False)
        batch.add_column(sa.Column('window_days', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('rho', sa.Float(), nullable=True))
    with op.batch_alter_table('dp_budget_ledger') as batch:
        batch.alter_column('period', existing_type=sa.String(10), type_=sa.String(24), existing_nullable=False)
        batch.add_column(sa.Column('rho', sa.Float(), nullable=True))


def downgrade() -> None:
    # A window does not fit a day's key: its release goes, its spend stays under its first day.
    op.execute("DELETE FROM dp_releases WHERE length(period) > 10")
    op.execute("UPDATE dp_budget_ledger SET period = substr(period, 1, 10), purpose = 'public-window' "
               "WHERE length(period) > 10")
    with op.batch_alter_table('dp_budget_ledger') as batch:
        batch.drop_column('rho')
        batch.alter_column('period', existing_type=sa.String(24), type_=sa.String(10), existing_nullable=False)
    with op.batch_alter_table('dp_releases') as batch:
        batch.drop_column('rho')
        batch.drop_column('window_days')
        batch.alter_column('period', existing_type=sa.String(24), type_=sa.String(10), existing_nullable=False)
