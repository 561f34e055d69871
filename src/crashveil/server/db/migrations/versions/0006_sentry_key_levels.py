"""Sentry DSN keys carry their own consent level (it was the project's).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

Every existing key gets its project's level, so each keeps the level it had; then the
project's column is dropped. On SQLite the column is dropped with the native
``ALTER TABLE ... DROP COLUMN`` (SQLite >= 3.35), never with a batch rebuild: rebuilding
``sentry_projects`` would drop the table that ``sentry_keys`` references with
``ON DELETE CASCADE`` and delete every key. An older SQLite keeps the unused column.

Downgrade gives each project the level of its newest live key (0005 has one per project).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_keys = sa.table('sentry_keys', sa.column('id', sa.Integer()), sa.column('numeric_id', sa.Integer()),
                 sa.column('level', sa.String(40)), sa.column('revoked_at', sa.DateTime()))
_projects = sa.table('sentry_projects', sa.column('numeric_id', sa.Integer()), sa.column('level', sa.String(40)))


def _can_drop_column() -> bool:
    return op.get_bind().dialect.name != 'sqlite' or sqlite3.sqlite_version_info >= (3, 35, 0)


def upgrade() -> None:
    op.add_column('sentry_keys', sa.Column('level', sa.String(length=40), nullable=True))
    op.execute(_keys.update().values(level=sa.select(_projects.c.level)
                                     .where(_projects.c.numeric_id == _keys.c.numeric_id).scalar_subquery()))
    if _can_drop_column():
        op.drop_column('sentry_projects', 'level')
    else:  # pragma: no cover - SQLite older than 3.35
        op.execute(_projects.update().values(level=None))


def downgrade() -> None:
    columns = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('sentry_projects')}
    if 'level' not in columns:
        op.add_column('sentry_projects', sa.Column('level', sa.String(length=40), nullable=True))
    newest = (sa.select(_keys.c.level).where(_keys.c.numeric_id == _projects.c.numeric_id)
              .order_by(_keys.c.revoked_at.is_not(None), _keys.c.id.desc()).limit(1).scalar_subquery())
    op.execute(_projects.update().values(level=newest))
    if _can_drop_column():
        op.drop_column('sentry_keys', 'level')
    else:  # pragma: no cover - SQLite older than 3.35
        op.execute(_keys.update().values(level=None))
