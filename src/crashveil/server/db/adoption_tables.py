"""Release adoption: how many distinct installations ran each release on each day (migration 0017).

The SDK sends at most one adoption ping per installation, release and day (``sdk/adoption.py``,
declared by the policy's ``[adoption]``); the server keeps two tables:

- ``release_adoption``: the count of distinct installations per project x release x day.
  Nothing else: no pseudonym, no digest, no time finer than the day. This is what the
  releases page reads (active installations, crash-free rate, adoption over time), and what
  the policy's ``adoption.retention_days`` bounds.
- ``adoption_seen``: what de-duplicates the pings of a day that can still receive some (the
  day and the one before it: a ping may arrive late from an app that was offline). One row per
  (project, day, release, digest), the digest a personalised BLAKE2b of (project, day,
  pseudonym), never the pseudonym. Rows are deleted once their day is closed
  (:func:`prune_adoption`, at each ping and in each retention run), so nothing per installation outlives two days.

Why a per-day set dropped at day end, and not a keyed set kept for the retention period: a
set kept that long is a per-installation log of which days it ran which release, exactly what
the count exists to avoid. Why a digest rather than the pseudonym: the set cannot be joined
with ``reports.install_id`` by a plain SQL join, while an erasure, which knows the
pseudonym, can still compute it for the two open days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa

from crashveil.server.db.tables import metadata

__all__ = ["OPEN_DAYS", "adoption_seen", "forget_installs", "prune_adoption", "release_adoption", "seen_digest"]

#: Days a ping may be late: today and the day before (UTC). The de-duplication set of a day is
#: deleted once the day falls out of this window.
OPEN_DAYS = 2
_PERSON = b"cv-adopt-seen"

release_adoption = sa.Table(
    "release_adoption", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("release", sa.String(128), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("installs", sa.Integer(), nullable=False),
    sa.Index(None, "project_id", "day"),
)

adoption_seen = sa.Table(
    "adoption_seen", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("release", sa.String(128), primary_key=True),
    sa.Column("digest", sa.LargeBinary(16), primary_key=True),
)


def seen_digest(project_id: str, day: str, install_id: str) -> bytes:
    """The de-duplication set's entry for an installation on a day: never the pseudonym itself."""
    message = f"{project_id}\0{day}\0{install_id}".encode()
    return hashlib.blake2b(message, digest_size=16, person=_PERSON).digest()


def prune_adoption(conn: sa.Connection, project_id: str, *, today: date, retention_days: int) -> int:
    """Delete the project's de-duplication set of closed days and its counts older than
    ``retention_days``; the rows deleted. Each ping does it, and so does retention (for a
    project that stopped sending pings)."""
    oldest_open = (today - timedelta(days=OPEN_DAYS - 1)).isoformat()
    deleted = conn.execute(adoption_seen.delete().where(adoption_seen.c.project_id == project_id,
                                                        adoption_seen.c.day < oldest_open)).rowcount
    kept_from = (today - timedelta(days=retention_days)).isoformat()
    return int(deleted) + int(conn.execute(release_adoption.delete().where(
        release_adoption.c.project_id == project_id, release_adoption.c.day < kept_from)).rowcount)


def forget_installs(conn: sa.Connection, project_id: str, install_ids: Sequence[str], *, today: date) -> int:
    """Erasure: delete these installations' entries of the open days' de-duplication sets (the
    counts stay: they hold no installation); the rows deleted."""
    days = [(today - timedelta(days=back)).isoformat() for back in range(OPEN_DAYS)]
    digests = [seen_digest(project_id, day, install_id) for day in days for install_id in install_ids]
    deleted = 0
    for start in range(0, len(digests), 500):
        deleted += int(conn.execute(adoption_seen.delete().where(
            adoption_seen.c.project_id == project_id, adoption_seen.c.day.in_(days),
            adoption_seen.c.digest.in_(digests[start:start + 500]))).rowcount)
    return deleted
