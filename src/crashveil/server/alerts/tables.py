"""The alert tables, on storage's metadata: rules, their outbox and the delivery log (migration 0026).

- ``alert_rules``: per project, what makes a notification (``kind``: new group, regression,
  spike, crash-free rate), the destinations it goes to (names, comma-separated), its
  threshold, quiet hours (``quiet_start``..``quiet_end`` in ``timezone``; ``quiet_mode``
  ``digest`` or ``latest``) and its deduplication window.
- ``alert_outbox``: one row per (incident, destination), written in the transaction that saw
  the incident (a report's commit, or the periodic check); the unique ``(project_id,
  destination, dedupe_key)`` makes one incident one notification. It holds what a
  notification says at group level (title from the redacted group title, counts, the
  group's forwardable values); the forwarding filter decides at send time what leaves.
- ``alert_deliveries``: one row per delivery attempt: status, short detail, attempt, time.
  Never the payload.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["alert_rules", "alert_outbox", "alert_deliveries"]

alert_rules = sa.Table(
    "alert_rules", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("destinations", sa.Text(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=True),
    sa.Column("min_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("release", sa.String(128), nullable=True),
    sa.Column("quiet_start", sa.String(5), nullable=True),
    sa.Column("quiet_end", sa.String(5), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("quiet_mode", sa.String(8), nullable=False, server_default="digest"),
    sa.Column("dedupe_window_s", sa.Integer(), nullable=False, server_default="86400"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
sa.Index("ix_alert_rules_project_id_kind", alert_rules.c.project_id, alert_rules.c.kind)

alert_outbox = sa.Table(
    "alert_outbox", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("rule_id", sa.Integer(), sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("group_id", sa.Integer(), nullable=True),
    sa.Column("title", sa.String(600), nullable=False),
    sa.Column("summary", sa.String(600), nullable=False),
    sa.Column("link", sa.String(600), nullable=False),
    sa.Column("fields", sa.Text(), nullable=False),  # JSON: forwardable field name -> group-level value
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),  # made during quiet hours
    sa.Column("state", sa.String(12), nullable=False),  # pending | sent | failed | merged
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("project_id", "destination", "dedupe_key"),
)
sa.Index("ix_alert_outbox_state_due_at", alert_outbox.c.state, alert_outbox.c.due_at)

alert_deliveries = sa.Table(
    "alert_deliveries", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("outbox_id", sa.Integer(), nullable=False),
    sa.Column("rule_id", sa.Integer(), nullable=True),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("detail", sa.String(300), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)
sa.Index("ix_alert_deliveries_project_id_at", alert_deliveries.c.project_id, alert_deliveries.c.at)
