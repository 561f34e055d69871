"""Release adoption: how many distinct installations ran each release on each day (migration 0014r).

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
  (``server.ingest.adoption``), so nothing per installation outlives two days.

Why a per-day set dropped at day end, and not a keyed set kept for the retention period: a
set kept that long is a per-installation log of which days it ran which release, exactly what
the count exists to avoid. Why a digest rather than the pseudonym: the set cannot be joined
with ``reports.install_id`` by a plain SQL join, while an erasure, which knows the
pseudonym, can still compute it for the two open days.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import metadata

__all__ = ["release_adoption", "adoption_seen"]

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
