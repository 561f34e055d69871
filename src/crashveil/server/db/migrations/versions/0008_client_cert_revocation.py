"""Client certificate register and revocations.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10

Table defined in crashveil.server.db.client_cert_tables. Certificates issued before this
revision are not listed; they can still be revoked by serial.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_certs',
    sa.Column('serial', sa.String(length=48), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=True),
    sa.Column('issued_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('serial', name=op.f('pk_client_certs'))
    )
    op.create_index(op.f('ix_client_certs_name'), 'client_certs', ['name'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_client_certs_name'), table_name='client_certs')
    op.drop_table('client_certs')
