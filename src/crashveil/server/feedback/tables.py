"""Privacy feedback from users and the privacy officer's replies (migration 0023).

One row per feedback item (``server/feedback/intake.py``, declared by the policy's
``[feedback]``). The text and the reply are never stored in clear: each item has a data key of
its own (``wrapped_key``, wrapped by the KEK like the day keys, and rewrapped by KEK rotations:
:func:`~crashveil.server.keys.ring.register_wrapped_keys`), and both texts are AES-256-GCM
under it, bound to the project, the item and the part (``text`` or ``reply``). Deleting the
row deletes its key: retention and erasure need no re-encryption.

What is in clear: the topic, the status, the day it came (no time of day) and the day it was
answered, the SHA-256 of the reply handle the device keeps (so the device can fetch the
reply, and nothing else can), the count of redactions the server made, and ``install_id``
only when the user chose to link the feedback to their reports (erasure of that installation
deletes it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from crashveil.server.db.tables import metadata
from crashveil.server.keys.ring import register_wrapped_keys

__all__ = ["STATUSES", "feedback_items", "feedback_key_id", "forget_feedback"]

#: An item's states: new (unread or read, not answered), answered, closed.
STATUSES = ("new", "answered", "closed")

feedback_items = sa.Table(
    "feedback_items", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("feedback_id", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("received_day", sa.String(10), nullable=False),
    sa.Column("answered_day", sa.String(10), nullable=True),
    sa.Column("reply_digest", sa.LargeBinary(32), nullable=False),
    sa.Column("install_id", sa.String(32), nullable=True),
    sa.Column("redactions", sa.Integer(), nullable=False),
    sa.Column("kek_id", sa.String(64), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
    sa.Column("text_sealed", sa.LargeBinary(), nullable=False),
    sa.Column("reply_sealed", sa.LargeBinary(), nullable=True),
    sa.UniqueConstraint("project_id", "feedback_id"),
    sa.Index("ix_feedback_items_project_day", "project_id", "received_day"),
    sa.Index("ix_feedback_items_reply_digest", "reply_digest"),
    sa.Index("ix_feedback_items_install", "project_id", "install_id"),
)


def feedback_key_id(project_id: str, feedback_id: str) -> str:
    """The id an item's key is wrapped under (the wrap's associated data)."""
    return f"feedback:{project_id}:{feedback_id}"


register_wrapped_keys(feedback_items, lambda row: feedback_key_id(row.project_id, row.feedback_id))


def forget_feedback(conn: sa.Connection, project_id: str, install_ids: Sequence[str]) -> int:
    """Erasure: delete the feedback these installations linked to their reports; the rows deleted."""
    if not install_ids:
        return 0
    return int(conn.execute(feedback_items.delete().where(
        feedback_items.c.project_id == project_id, feedback_items.c.install_id.in_(list(install_ids)))).rowcount)
