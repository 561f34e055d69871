"""Daily roll-ups for the group list: per group x day x release x OS family counts and
install sketches, per group x day install sketches, and the project's filter values.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Tables are defined in crashveil.server.db.rollup_tables. Existing data is backfilled
from the hourly roll-ups and the reports (one pass; install sketches are computed in Python).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_daily_rollups',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('release', sa.String(length=128), nullable=False),
    sa.Column('os_family', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('counts_only', sa.Integer(), server_default='0', nullable=False),
    sa.Column('installs', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['crash_groups.id'], name=op.f('fk_group_daily_rollups_group_id_crash_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'day', 'release', 'os_family', name=op.f('pk_group_daily_rollups'))
    )
    op.create_index(op.f('ix_group_daily_rollups_project_id_day_group_id_count'), 'group_daily_rollups', ['project_id', 'day', 'group_id', 'count'], unique=False)
    op.create_index(op.f('ix_group_daily_rollups_project_id_release_day_group_id_count'), 'group_daily_rollups', ['project_id', 'release', 'day', 'group_id', 'count'], unique=False)
    op.create_table('group_day_installs',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('installs', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['crash_groups.id'], name=op.f('fk_group_day_installs_group_id_crash_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'day', name=op.f('pk_group_day_installs'))
    )
    op.create_index(op.f('ix_group_day_installs_project_id_day'), 'group_day_installs', ['project_id', 'day'], unique=False)
    op.create_table('project_filter_values',
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('last_seen', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_filter_values_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'kind', 'value', name=op.f('pk_project_filter_values'))
    )
    _backfill()


def _backfill() -> None:
    from crashveil.server.db.rollup_tables import InstallSketch

    conn = op.get_bind()
    conn.execute(sa.text(
        "INSERT INTO group_daily_rollups (group_id, day, release, os_family, project_id, count, counts_only)"
        " SELECT group_id, substr(hour, 1, 10), release, os_family, min(project_id), sum(count), sum(counts_only)"
        " FROM group_rollups GROUP BY group_id, substr(hour, 1, 10), release, os_family"))
    for kind, column in (("release", "release"), ("os_family", "os_family")):
        conn.execute(sa.text(
            f"INSERT INTO project_filter_values (project_id, kind, value, last_seen)"
            f" SELECT project_id, '{kind}', {column}, max(substr(hour, 1, 10)) FROM group_rollups"
            f" GROUP BY project_id, {column}"))
    fine: dict[tuple[int, str, str, str], InstallSketch] = {}
    coarse: dict[tuple[int, str], tuple[str, InstallSketch]] = {}
    rows = conn.execute(sa.text(
        "SELECT group_id, project_id, substr(hour, 1, 10), coalesce(release, ''), coalesce(os_family, ''),"
        " install_id FROM reports WHERE install_id IS NOT NULL")).yield_per(10_000)
    for group_id, project_id, day, release, os_family, install in rows:
        fine.setdefault((group_id, day, release, os_family), InstallSketch()).add(install)
        coarse.setdefault((group_id, day), (project_id, InstallSketch()))[1].add(install)
    update = sa.text("UPDATE group_daily_rollups SET installs = :s WHERE group_id = :g AND day = :d"
                     " AND release = :r AND os_family = :o")
    params = [dict(s=v.to_bytes(), g=k[0], d=k[1], r=k[2], o=k[3]) for k, v in fine.items()]
    if params:
        conn.execute(update, params)
    insert = sa.text("INSERT INTO group_day_installs (group_id, day, project_id, installs) VALUES (:g, :d, :p, :s)")
    params = [dict(g=k[0], d=k[1], p=p, s=v.to_bytes()) for k, (p, v) in coarse.items()]
    if params:
        conn.execute(insert, params)


def downgrade() -> None:
    op.drop_table('project_filter_values')
    op.drop_index(op.f('ix_group_day_installs_project_id_day'), table_name='group_day_installs')
    op.drop_table('group_day_installs')
    op.drop_index(op.f('ix_group_daily_rollups_project_id_release_day_group_id_count'), table_name='group_daily_rollups')
    op.drop_index(op.f('ix_group_daily_rollups_project_id_day_group_id_count'), table_name='group_daily_rollups')
    op.drop_table('group_daily_rollups')
