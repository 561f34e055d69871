"""The group list's last-seen and first-seen sorts read an index in their keyset order.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07

The list orders by ``(last_seen, id)`` or ``(first_seen, id)``, newest first, and a page
starts after the previous page's last pair (``dashboard.triage.listing``). The indexes were
``(project_id, last_seen)`` (0001) and ``(project_id, first_seen)`` (0013): SQLite appends
the rowid (``id``) to every index, so its walk stopped at a page, but PostgreSQL had to read
every group tied on the page's last time and sort them (an incremental sort: 2,300 groups,
each with its facet probes, for a page of 50 when many groups were last seen in one hour),
and could not use the cursor's row comparison as an index condition. These replace them
with ``(project_id, last_seen, id)`` and ``(project_id, first_seen, id)``: same count of
indexes, so the write path pays nothing more.

On SQLite, a database that has planner statistics (``sqlite_stat1``: someone ran ANALYZE)
gets them for the new indexes too: without, SQLite takes an index it knows nothing about
for more selective than the analysed ones and sorted the whole project for the events and
installations sorts (18 -> 240 ms of CPU at 100k groups).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

_REPLACED = (('ix_crash_groups_project_id_last_seen', 'ix_crash_groups_project_id_last_seen_id', 'last_seen'),
             ('ix_crash_groups_project_id_first_seen', 'ix_crash_groups_project_id_first_seen_id', 'first_seen'))


def upgrade() -> None:
    for old, new, column in _REPLACED:
        op.create_index(new, 'crash_groups', ['project_id', column, 'id'])
        op.drop_index(old, table_name='crash_groups')
    _analyze_if_analyzed()


def downgrade() -> None:
    for old, new, column in _REPLACED:
        op.create_index(old, 'crash_groups', ['project_id', column])
        op.drop_index(new, table_name='crash_groups')
    _analyze_if_analyzed()


def _analyze_if_analyzed() -> None:
    """SQLite: statistics for the new indexes where the database keeps statistics at all."""
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite' and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")).first() is not None:
        bind.execute(sa.text('ANALYZE crash_groups'))
