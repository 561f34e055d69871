"""Privacy feedback and replies.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07

``feedback_items`` (``server/feedback/tables.py``): users' privacy feedback, the text and the
privacy officer's reply encrypted under a key per item (wrapped by the KEK), the SHA-256 of the
device's reply handle, and the install pseudonym only when the user linked the feedback to
their reports.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'feedback_items',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('project_id', sa.String(63), sa.ForeignKey('projects.id', ondelete='CASCADE'), nullable=False),
        sa.Column('feedback_id', sa.String(32), nullable=False),
        sa.Column('topic', sa.String(40), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('received_day', sa.String(10), nullable=False),
        sa.Column('answered_day', sa.String(10), nullable=True),
        sa.Column('reply_digest', sa.LargeBinary(32), nullable=False),
        sa.Column('install_id', sa.String(32), nullable=True),
        sa.Column('redactions', sa.Integer(), nullable=False),
        sa.Column('kek_id', sa.String(64), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
        sa.Column('text_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('reply_sealed', sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint('project_id', 'feedback_id'),
    )
    op.create_index('ix_feedback_items_project_day', 'feedback_items', ['project_id', 'received_day'])
    op.create_index('ix_feedback_items_reply_digest', 'feedback_items', ['reply_digest'])
    op.create_index('ix_feedback_items_install', 'feedback_items', ['project_id', 'install_id'])


def downgrade() -> None:
    op.drop_table('feedback_items')
