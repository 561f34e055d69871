"""Log-in hardening: single-use log-in nonces, an index for the privacy page's split of the
audit trail, and failed log-ins keyed by digest instead of the typed name.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10

Tables are defined in crashveil.server.db.governance_tables. ``login_failures.account`` now
holds a keyed digest (crashveil.server.governance.login_guard.account_digest); the rows written before
held the typed names in clear, so they are deleted (they only feed the 15-minute log-in
limit and are pruned after a day anyway).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_nonces',
    sa.Column('nonce_sha256', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce_sha256', name=op.f('pk_login_nonces'))
    )
    op.create_index(op.f('ix_login_nonces_expires_at'), 'login_nonces', ['expires_at'], unique=False)
    op.create_index(op.f('ix_audit_entries_actor_seq'), 'audit_entries', ['actor', 'seq'], unique=False)
    op.execute("DELETE FROM login_failures")


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_entries_actor_seq'), table_name='audit_entries')
    op.drop_index(op.f('ix_login_nonces_expires_at'), table_name='login_nonces')
    op.drop_table('login_nonces')
