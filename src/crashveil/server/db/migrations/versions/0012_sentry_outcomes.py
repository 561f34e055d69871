"""Outcomes of Sentry ingest per DSN key: events stored, and what was dropped and why.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Table defined in crashveil.server.db.sentry_tables. Nothing was counted before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sentry_outcomes',
        sa.Column('key_id', sa.Integer(), sa.ForeignKey('sentry_keys.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key_id', 'kind', 'subject', 'reason'),
    )


def downgrade() -> None:
    op.drop_table('sentry_outcomes')
