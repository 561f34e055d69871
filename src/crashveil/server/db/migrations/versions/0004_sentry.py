"""Sentry-compatible ingest: numeric DSN project ids, DSN keys (hashed), per-period
pseudonym keys for Sentry user ids (wrapped by the KEK).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Tables are defined in crashveil.server.db.sentry_tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sentry_projects',
    sa.Column('numeric_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('level', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_sentry_projects_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('numeric_id', name=op.f('pk_sentry_projects')),
    sa.UniqueConstraint('project_id', name=op.f('uq_sentry_projects_project_id'))
    )
    op.create_table('sentry_pseudonym_keys',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('rotation_days', sa.Integer(), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_sentry_pseudonym_keys_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'period', 'rotation_days', name=op.f('pk_sentry_pseudonym_keys'))
    )
    op.create_table('sentry_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('numeric_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=8), nullable=False),
    sa.Column('key_sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['numeric_id'], ['sentry_projects.numeric_id'], name=op.f('fk_sentry_keys_numeric_id_sentry_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sentry_keys'))
    )
    with op.batch_alter_table('sentry_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sentry_keys_numeric_id_prefix'), ['numeric_id', 'prefix'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sentry_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sentry_keys_numeric_id_prefix'))
    op.drop_table('sentry_keys')
    op.drop_table('sentry_pseudonym_keys')
    op.drop_table('sentry_projects')
