"""Several hosts over one database: server identity, hosts, leases, cache versions.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Tables defined in crashveil.server.db.cluster_tables. A database made before this revision
has no server identity: the first ``server run`` or ``server migrate`` of its directory
claims it (``server/cluster/identity.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_identity',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('server_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_server_identity'))
    )
    op.create_table('cluster_hosts',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_heartbeat', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cluster_hosts'))
    )
    op.create_table('leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('cache_versions',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_versions'))
    )


def downgrade() -> None:
    op.drop_table('cache_versions')
    op.drop_table('leases')
    op.drop_table('cluster_hosts')
    op.drop_table('server_identity')
