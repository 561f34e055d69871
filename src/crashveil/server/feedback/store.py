"""Privacy feedback at rest: store, list, open, answer, close, expire (``server/feedback/tables.py``).

Each item's text and reply are encrypted under a data key of its own, wrapped by the KEK
(``KeyRing.wrap``), bound to project, item and part. Opening one is the dashboard's audited
read (``dashboard/pages/feedback.py``); the device fetches only replies, by the digest of its
reply handle (:func:`replies_for`). Nothing here logs or raises with a text in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.server.feedback.tables import feedback_items, feedback_key_id
from crashveil.server.keys.crypto import decrypt_detail, detail_aad, encrypt_detail, new_data_key
from crashveil.server.keys.ring import KeyRing

__all__ = ["FeedbackItem", "FeedbackSummary", "NewFeedback", "close_feedback", "expire_feedback", "list_feedback",
           "open_feedback", "replies_for", "reply_feedback", "store_feedback", "topic_counts"]

#: Items one inbox page lists (newest first).
LIST_LIMIT = 200
_TEXT, _REPLY = "feedback-text", "feedback-reply"


@dataclass(frozen=True)
class NewFeedback:
    """A checked, server-redacted feedback item to store."""

    project_id: str
    feedback_id: str
    topic: str
    text: str
    reply_digest: bytes
    install_id: str | None
    redactions: int
    day: str


@dataclass(frozen=True)
class FeedbackSummary:
    """One inbox line: no text."""

    id: int
    topic: str
    status: str
    received_day: str
    answered_day: str | None
    linked: bool
    redactions: int


@dataclass(frozen=True)
class FeedbackItem:
    """One opened item: its line, the text and the reply."""

    summary: FeedbackSummary
    text: str
    reply: str | None


def _aad(project_id: str, feedback_id: str, part: str) -> bytes:
    return detail_aad(project_id, feedback_id, part)


def store_feedback(conn: sa.Connection, keyring: KeyRing, item: NewFeedback) -> bool:
    """Store ``item`` in ``conn``'s write transaction; False when its id was stored already (a retry)."""
    cols = feedback_items.c
    known = conn.execute(sa.select(cols.id).where(cols.project_id == item.project_id,
                                                  cols.feedback_id == item.feedback_id)).first()
    if known is not None:
        return False
    dek = new_data_key()
    kek_id, wrapped = keyring.wrap(dek, key_id=feedback_key_id(item.project_id, item.feedback_id))
    conn.execute(feedback_items.insert().values(
        project_id=item.project_id, feedback_id=item.feedback_id, topic=item.topic, status="new",
        received_day=item.day, answered_day=None, reply_digest=item.reply_digest, install_id=item.install_id,
        redactions=item.redactions, kek_id=kek_id, wrapped_key=wrapped,
        text_sealed=encrypt_detail(dek, item.text.encode("utf-8"), aad=_aad(item.project_id, item.feedback_id, _TEXT)),
        reply_sealed=None))
    return True


def _summary(row: Any) -> FeedbackSummary:
    m = row._mapping
    return FeedbackSummary(id=int(m["id"]), topic=str(m["topic"]), status=str(m["status"]),
                           received_day=str(m["received_day"]), answered_day=m["answered_day"],
                           linked=m["install_id"] is not None, redactions=int(m["redactions"]))


_SUMMARY_COLUMNS = (feedback_items.c.id, feedback_items.c.topic, feedback_items.c.status,
                    feedback_items.c.received_day, feedback_items.c.answered_day, feedback_items.c.install_id,
                    feedback_items.c.redactions)


def list_feedback(conn: sa.Connection, project_id: str, *, status: str | None = None) -> list[FeedbackSummary]:
    """The project's items, newest first (at most ``LIST_LIMIT``), optionally of one ``status``."""
    query = sa.select(*_SUMMARY_COLUMNS).where(feedback_items.c.project_id == project_id)
    if status is not None:
        query = query.where(feedback_items.c.status == status)
    rows = conn.execute(query.order_by(feedback_items.c.id.desc()).limit(LIST_LIMIT)).all()
    return [_summary(row) for row in rows]


def _dek(keyring: KeyRing, row: Any) -> bytes:
    m = row._mapping
    return keyring.unwrap(str(m["kek_id"]), bytes(m["wrapped_key"]),
                          key_id=feedback_key_id(str(m["project_id"]), str(m["feedback_id"])))


def _decrypt(dek: bytes, blob: bytes | None, project_id: str, feedback_id: str, part: str) -> str | None:
    if blob is None:
        return None
    return decrypt_detail(dek, bytes(blob), aad=_aad(project_id, feedback_id, part)).decode("utf-8")


def open_feedback(conn: sa.Connection, keyring: KeyRing, project_id: str, item_id: int) -> FeedbackItem | None:
    """Item ``item_id`` of ``project_id`` decrypted, or None. The caller audits the read first."""
    row = conn.execute(sa.select(feedback_items).where(feedback_items.c.project_id == project_id,
                                                       feedback_items.c.id == item_id)).first()
    if row is None:
        return None
    dek = _dek(keyring, row)
    text = _decrypt(dek, row.text_sealed, project_id, row.feedback_id, _TEXT) or ""
    return FeedbackItem(_summary(row), text, _decrypt(dek, row.reply_sealed, project_id, row.feedback_id, _REPLY))


def exists(conn: sa.Connection, project_id: str, item_id: int) -> bool:
    return conn.execute(sa.select(feedback_items.c.id).where(feedback_items.c.project_id == project_id,
                                                             feedback_items.c.id == item_id)).first() is not None


def reply_feedback(conn: sa.Connection, keyring: KeyRing, project_id: str, item_id: int, reply: str, *,
                   day: str) -> bool:
    """Store the (already redacted) ``reply`` and mark the item answered; False if there is no such item."""
    row = conn.execute(sa.select(feedback_items).where(feedback_items.c.project_id == project_id,
                                                       feedback_items.c.id == item_id)).first()
    if row is None:
        return False
    sealed = encrypt_detail(_dek(keyring, row), reply.encode("utf-8"), aad=_aad(project_id, row.feedback_id, _REPLY))
    conn.execute(feedback_items.update().where(feedback_items.c.id == item_id).values(
        reply_sealed=sealed, status="answered", answered_day=day))
    return True


def close_feedback(conn: sa.Connection, project_id: str, item_id: int) -> bool:
    """Mark the item closed (its reply, if any, stays fetchable); False if there is no such item."""
    return bool(conn.execute(feedback_items.update().where(
        feedback_items.c.project_id == project_id, feedback_items.c.id == item_id).values(status="closed")).rowcount)


def replies_for(conn: sa.Connection, keyring: KeyRing, project_id: str, digests: Sequence[bytes]
                ) -> list[dict[str, str]]:
    """The replies to the items whose reply digest is in ``digests`` (items without one: nothing)."""
    if not digests:
        return []
    rows = conn.execute(sa.select(feedback_items).where(
        feedback_items.c.project_id == project_id, feedback_items.c.reply_digest.in_(list(digests)),
        feedback_items.c.reply_sealed.is_not(None))).all()
    out = []
    for row in rows:
        reply = _decrypt(_dek(keyring, row), row.reply_sealed, project_id, row.feedback_id, _REPLY) or ""
        out.append({"reply_to": bytes(row.reply_digest).hex(), "status": str(row.status),
                    "day": str(row.answered_day or row.received_day), "reply": reply})
    return out


def expire_feedback(conn: sa.Connection, project_id: str, *, today: date, retention_days: int,
                    dry_run: bool = False) -> int:
    """Delete (or, dry, count) the items received more than ``retention_days`` ago; with them go
    their keys. ``retention_days`` 0 (the policy has no ``[feedback]``) deletes every item."""
    cutoff = (today - timedelta(days=retention_days)).isoformat()
    where: list[sa.ColumnElement[bool]] = [feedback_items.c.project_id == project_id]
    if retention_days > 0:
        where.append(feedback_items.c.received_day < cutoff)
    if dry_run:
        return int(conn.execute(sa.select(sa.func.count()).select_from(feedback_items).where(*where)).scalar_one())
    return int(conn.execute(feedback_items.delete().where(*where)).rowcount)


def topic_counts(conn: sa.Connection, project_id: str, *, since_day: str, until_day: str) -> dict[str, dict[str, int]]:
    """topic -> status -> items received in ``[since_day, until_day]`` (counts only)."""
    cols = feedback_items.c
    rows = conn.execute(sa.select(cols.topic, cols.status, sa.func.count()).where(
        cols.project_id == project_id, cols.received_day >= since_day, cols.received_day <= until_day)
        .group_by(cols.topic, cols.status)).all()
    counts: dict[str, dict[str, int]] = {}
    for topic, status, count in rows:
        counts.setdefault(str(topic), {})[str(status)] = int(count)
    return counts
