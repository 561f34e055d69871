"""Initial schema: projects, policies, keys, data keys, groups, reports, roll-ups, counters,
deletion requests.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Times are naive UTC ``DateTime`` columns (crashveil.server.db.tables.UtcDateTime).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One migration is one schema step: the first schema, table by table (generated, then reviewed)."""
    op.create_table('projects',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('public_summary', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    op.create_table('crash_groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('fingerprint', sa.String(length=40), nullable=False),
    sa.Column('crash_type', sa.String(length=256), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('first_release', sa.String(length=128), nullable=True),
    sa.Column('last_release', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolved_in', sa.String(length=128), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('regressed_in', sa.String(length=128), nullable=True),
    sa.Column('regressed_at', sa.DateTime(), nullable=True),
    sa.Column('total_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('hour_key', sa.String(length=17), nullable=True),
    sa.Column('hour_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('counts_only_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_crash_groups_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crash_groups')),
    sa.UniqueConstraint('project_id', 'fingerprint', name=op.f('uq_crash_groups_project_id_fingerprint'))
    )
    with op.batch_alter_table('crash_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crash_groups_project_id_last_seen'), ['project_id', 'last_seen'], unique=False)

    op.create_table('data_keys',
    sa.Column('key_id', sa.String(length=96), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_data_keys_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_data_keys')),
    sa.UniqueConstraint('project_id', 'day', name=op.f('uq_data_keys_project_id_day'))
    )
    op.create_table('deletion_requests',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('install_count', sa.Integer(), nullable=False),
    sa.Column('deleted_count', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_deletion_requests_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'request_id', name=op.f('pk_deletion_requests'))
    )
    op.create_table('project_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=True),
    sa.Column('sealed_private', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('destroyed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_keys_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_project_keys'))
    )
    with op.batch_alter_table('project_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_keys_project_id_kind_created_at'), ['project_id', 'kind', 'created_at'], unique=False)

    op.create_table('project_policies',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('digest', sa.String(length=80), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('policy_toml', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_policies_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'digest', name=op.f('pk_project_policies'))
    )
    op.create_table('redaction_counters',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('release', sa.String(length=128), nullable=False),
    sa.Column('field', sa.String(length=128), nullable=False),
    sa.Column('detector', sa.String(length=64), nullable=False),
    sa.Column('hour', sa.String(length=17), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_redaction_counters_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'release', 'field', 'detector', 'hour', name=op.f('pk_redaction_counters'))
    )
    op.create_table('group_rollups',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.String(length=17), nullable=False),
    sa.Column('release', sa.String(length=128), nullable=False),
    sa.Column('os_family', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('counts_only', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['crash_groups.id'], name=op.f('fk_group_rollups_group_id_crash_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'hour', 'release', 'os_family', name=op.f('pk_group_rollups'))
    )
    with op.batch_alter_table('group_rollups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_rollups_project_id_hour'), ['project_id', 'hour'], unique=False)

    op.create_table('reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('receipt', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=40), nullable=False),
    sa.Column('release', sa.String(length=128), nullable=True),
    sa.Column('os_family', sa.String(length=32), nullable=True),
    sa.Column('hour', sa.String(length=17), nullable=False),
    sa.Column('received_hour', sa.String(length=17), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('level', sa.String(length=40), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('install_id', sa.String(length=32), nullable=True),
    sa.Column('policy_digest', sa.String(length=80), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.String(length=96), nullable=True),
    sa.Column('detail', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.key_id'], name=op.f('fk_reports_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['group_id'], ['crash_groups.id'], name=op.f('fk_reports_group_id_crash_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_reports_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('project_id', 'report_id', name=op.f('uq_reports_project_id_report_id')),
    sa.UniqueConstraint('receipt', name=op.f('uq_reports_receipt'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_group_id_received_at'), ['group_id', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_project_id_day'), ['project_id', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_project_id_install_id'), ['project_id', 'install_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_project_id_install_id'))
        batch_op.drop_index(batch_op.f('ix_reports_project_id_day'))
        batch_op.drop_index(batch_op.f('ix_reports_group_id_received_at'))

    op.drop_table('reports')
    with op.batch_alter_table('group_rollups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_rollups_project_id_hour'))

    op.drop_table('group_rollups')
    op.drop_table('redaction_counters')
    op.drop_table('project_policies')
    with op.batch_alter_table('project_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_keys_project_id_kind_created_at'))

    op.drop_table('project_keys')
    op.drop_table('deletion_requests')
    op.drop_table('data_keys')
    with op.batch_alter_table('crash_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crash_groups_project_id_last_seen'))

    op.drop_table('crash_groups')
    op.drop_table('projects')
