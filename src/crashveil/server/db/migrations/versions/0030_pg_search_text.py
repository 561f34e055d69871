"""PostgreSQL: the trigram search text moves off ``crash_groups`` (ingest throughput).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07

``db.triage_tables`` (its last part) says why: the GIN trigram indexes of 0015 made every report's group update
re-index the group's text. The folded texts now live in ``group_search_text``, kept by
triggers, with the GIN indexes; ``crash_groups`` keeps its generated folded columns (a walk
of the list's sort index still compares them) without the GIN indexes. SQLite: nothing
changes (its FTS5 table is already kept apart, by triggers that fire on text changes only).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def _has_trigram(bind: sa.Connection) -> bool:
    return bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is not None


def upgrade() -> None:
    from crashveil.server.db.triage_tables import SEARCH_TEXT_DDL, TRIGRAM_INDEXES, search_text_index_ddl

    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return
    for statement in SEARCH_TEXT_DDL:
        op.execute(statement)
    if _has_trigram(bind):
        for statement in search_text_index_ddl():
            op.execute(statement)
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    from crashveil.server.db.triage_tables import POSTGRES_TRIGRAM_DDL, SEARCH_TEXT_DROP

    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return
    for statement in SEARCH_TEXT_DROP:
        op.execute(statement)
    if _has_trigram(bind):
        for statement in POSTGRES_TRIGRAM_DDL[1:]:
            op.execute(statement)
