"""Shared keys over several hosts: the KEK heartbeat, shared secrets, the shared audit checkpoint.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Tables defined in crashveil.server.db.tables (kek_hosts, shared_secrets) and
crashveil.server.db.governance_tables (audit_checkpoint). Before this revision each host kept
its audit key, checkpoint and dashboard secret in its own files; the first process to start
after it copies this host's into the database (keys/shared_secrets.py), and every host then
uses those.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kek_hosts',
        sa.Column('process_id', sa.String(length=128), nullable=False),
        sa.Column('host', sa.String(length=96), nullable=False),
        sa.Column('current_kek', sa.String(length=64), nullable=False),
        sa.Column('kek_ids', sa.Text(), nullable=False),
        sa.Column('seen_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('process_id', name=op.f('pk_kek_hosts')),
    )
    op.create_table(
        'shared_secrets',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kek_id', sa.String(length=64), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_shared_secrets')),
    )
    op.create_table(
        'audit_checkpoint',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('at', sa.String(length=32), nullable=False),
        sa.Column('public_key', sa.String(length=128), nullable=False),
        sa.Column('signature', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoint')),
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoint')
    op.drop_table('shared_secrets')
    op.drop_table('kek_hosts')
