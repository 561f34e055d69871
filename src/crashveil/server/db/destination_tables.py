"""Where alerts may be sent: one row per project and destination name (migration 0027).

``config`` is JSON of the settings anyone administering the server may read (a URL's host, an
SMTP host, a repository). The secrets (a webhook's signing secret, a tracker token, an SMTP
password, and every URL, which may carry a credential: Slack's and Teams' are one) are in
``sealed_secrets``:
AES-256-GCM under the ``destinations`` key of ``shared_secrets`` (wrapped by the KEK, rewrapped
by KEK rotations), bound to the row's project, name and kind (``alerts.destinations.store``).
A stolen database alone does not reveal them.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["destinations"]

destinations = sa.Table(
    "destinations", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("config", sa.Text(), nullable=False),
    sa.Column("sealed_secrets", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
