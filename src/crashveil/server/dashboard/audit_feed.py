"""What the privacy page shows of the audit trail: entries of known actors apart from
anonymous noise.

Anyone can make anonymous entries (failed and refused log-ins); a list of the newest 200
entries of all kinds can therefore be pushed full of them until report reads drop off it.
So the page lists the newest entries of *known* actors (users, tokens, the CLI, the
system) on their own, and sums the anonymous ones of the last day per action, with the few
newest beside (their ``suppressed`` counts say how many more the gate left out). Both are
bounded queries on ``audit_entries(actor, seq)``, not a scan of the whole trail.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.db.engine import read_tx
from crashveil.server.db.governance_tables import audit_entries
from crashveil.server.governance.audit import AuditEntry
from crashveil.server.governance.login_guard import ANONYMOUS

__all__ = ["AnonymousCount", "PrivacyFeed", "privacy_feed"]


@dataclass(frozen=True)
class AnonymousCount:
    """Anonymous entries of one action in the window."""

    action: str
    entries: int
    last_at: str


@dataclass(frozen=True)
class PrivacyFeed:
    entries: list[AuditEntry]
    anonymous: list[AnonymousCount]
    anonymous_recent: list[AuditEntry]
    window_hours: int


def _entry(row: sa.Row) -> AuditEntry:
    return AuditEntry(row.seq, row.at, row.actor, row.action, row.project_id, row.subject, row.detail,
                      row.prev_hash, row.hash)


def privacy_feed(engine: Engine, *, allowed: Collection[str] | None, action: str | None, now: datetime,
                 limit: int = 200, window: timedelta = timedelta(hours=24), recent: int = 20) -> PrivacyFeed:
    """The newest ``limit`` entries of known actors, and the anonymous ones of ``window``.

    Args:
        allowed: the projects whose entries the viewer may see, ``None`` for all (entries
            without a project, such as log-ins, are then visible too).
        action: only entries of this action.
    """
    known = sa.select(audit_entries).where(audit_entries.c.actor != ANONYMOUS)
    anonymous = audit_entries.c.actor == ANONYMOUS
    if action:
        known = known.where(audit_entries.c.action == action)
        anonymous = sa.and_(anonymous, audit_entries.c.action == action)
    if allowed is not None:
        known = known.where(audit_entries.c.project_id.in_(sorted(allowed)))
    since = (now - window).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with read_tx(engine) as conn:
        entries = [_entry(r) for r in conn.execute(known.order_by(audit_entries.c.seq.desc()).limit(limit))]
        counts: list[AnonymousCount] = []
        newest: list[AuditEntry] = []
        if allowed is None:  # anonymous entries name no project
            windowed = sa.and_(anonymous, audit_entries.c.at >= since)
            counts = [AnonymousCount(r.action, int(r.n), r.last_at) for r in conn.execute(
                sa.select(audit_entries.c.action, sa.func.count().label("n"),
                          sa.func.max(audit_entries.c.at).label("last_at"))
                .where(windowed).group_by(audit_entries.c.action).order_by(audit_entries.c.action))]
            newest = [_entry(r) for r in conn.execute(sa.select(audit_entries).where(anonymous)
                                                      .order_by(audit_entries.c.seq.desc()).limit(recent))]
    return PrivacyFeed(entries, counts, newest, int(window.total_seconds() // 3600))
