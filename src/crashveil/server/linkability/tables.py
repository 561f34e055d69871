"""What the quasi-identifier check keeps, per project and pseudonym period (migration 0029).

- ``quasi_class_counts``: how many distinct installations sent each combination at each rung
  of the ladder (``ladder``) in the period. The combination is a keyed digest, never the value.
- ``quasi_early_installs``: the installations stored at a coarser rung than exact for a
  combination, so that all their reports of the period keep that rung (a rung that changed
  with the count would let the pseudonym, which links one installation's reports within the
  period, tell the early installations apart from the rare one). At most k - 1 per exact
  combination, plus the rare ones; keyed digests of pseudonym and combination only.
- ``quasi_rung_reports``: reports stored at each rung (the audit report's shares).

Digests are BLAKE2b under a key derived per project and period from the ``linkability``
shared secret (wrapped by the KEK like the data keys): without the KEK the small space of
environments cannot be tried against them. Rows of a period are deleted when the period
after the next begins (``counting.QuasiCounter``), so nothing here outlives its period by
more than one: it can link no two periods, and no row holds a pseudonym.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import metadata

__all__ = ["quasi_class_counts", "quasi_early_installs", "quasi_rung_reports"]

quasi_class_counts = sa.Table(
    "quasi_class_counts", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("period", sa.Integer(), primary_key=True),
    sa.Column("digest", sa.LargeBinary(16), primary_key=True),
    sa.Column("installs", sa.Integer(), nullable=False),
)

quasi_early_installs = sa.Table(
    "quasi_early_installs", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("period", sa.Integer(), primary_key=True),
    sa.Column("combination", sa.LargeBinary(16), primary_key=True),
    sa.Column("install", sa.LargeBinary(16), primary_key=True),
    sa.Column("rung", sa.Integer(), nullable=False),
)

quasi_rung_reports = sa.Table(
    "quasi_rung_reports", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("period", sa.Integer(), primary_key=True),
    sa.Column("rung", sa.Integer(), primary_key=True),
    sa.Column("reports", sa.Integer(), nullable=False),
)
