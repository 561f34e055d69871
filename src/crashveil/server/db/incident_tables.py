"""Field stops and privacy incidents (migration 0022).

- ``field_stops``: "stop collecting this field", for one project or every one
  (``project_id`` NULL), from ``since`` until lifted. Read by
  ``server/governance/field_stops.py`` (with the project record, so ingest pays no query) and
  carried to apps in the signed remote config's ``stopped_fields``. ``source``: ``incident``
  (a privacy incident opened it) or ``manual``.
- ``privacy_incidents``: a suspected leak through one field (``crashveil incident``): which
  releases (a JSON list; empty: every release), which time range of received reports, why,
  who opened it, and its state (``open``, ``purged``, ``closed``) and closing summary.

Neither holds report content: field names, release strings, times, reasons typed by staff.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["field_stops", "privacy_incidents"]

privacy_incidents = sa.Table(
    "privacy_incidents", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), nullable=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("releases", sa.Text(), nullable=False),
    sa.Column("since", UtcDateTime(), nullable=False),
    sa.Column("until", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("summary", sa.Text(), nullable=True),
)

field_stops = sa.Table(
    "field_stops", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), nullable=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("since", UtcDateTime(), nullable=False),
    sa.Column("lifted_at", UtcDateTime(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("incident_id", sa.Integer(), sa.ForeignKey("privacy_incidents.id", ondelete="SET NULL"),
              nullable=True),
    sa.Index(None, "project_id", "lifted_at"),
)
