"""Room for HOT updates: fillfactor 70 on the PostgreSQL tables a report updates in place
whose indexes leave the updated columns alone.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

A HOT update (no index entry written) needs free space on the row's page and no indexed
column changed. Measured with bench/ingest.py's write path (``n_tup_hot_upd`` of
``n_tup_upd``): ``group_day_installs`` 87-90 % HOT at the default fillfactor, 99 % at 70;
``group_credential_hours`` and ``redaction_counters`` are already 99-100 % HOT and get the
same room for busier hours. Not here, because no free space makes their updates HOT: an
index covers a column every report changes, ``crash_groups`` (``last_seen``,
``total_count``, ``install_count``, ``day_key``/``trend``: the group list's sort indexes),
``group_rollups`` and ``group_daily_rollups`` (``count``, in the dashboard's index-only
scans). Existing pages keep their fill until rewritten; new pages get the room. SQLite has
no fillfactor: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

#: Tables given room, and the fillfactor (percent of a page filled by inserts).
_TABLES = ('group_day_installs', 'group_credential_hours', 'redaction_counters')
FILLFACTOR = 70


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _TABLES:
        op.execute(f'ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _TABLES:
        op.execute(f'ALTER TABLE {table} RESET (fillfactor)')
