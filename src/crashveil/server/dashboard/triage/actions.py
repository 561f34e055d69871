"""A group's triage state changed by hand: resolve, ignore, reopen, notes and the issue link.

Each change runs in one write transaction with its audit entry (``conn=``), so a change is
never stored without its actor, nor audited without being stored. The rules a report is
judged by afterwards are in ``ingest.grouping``; this module only writes the columns.

Audit details hold ids, release names, dates and counts, never free text: a note's entry
names the note and its length, a link's entry only the host it points to (a URL's path or
query could carry anything).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import BadTriageAction, NotFound
from crashveil.server.dashboard.queries import MAX_ID
from crashveil.server.db.dashboard_tables import group_status_changes
from crashveil.server.db.engine import is_sqlite, write_tx
from crashveil.server.db.rollup_tables import FILTER_RELEASE, project_filter_values
from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import NOTE_CHARS, group_notes
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.ingest import grouping

__all__ = ["URL_CHARS", "StatusChange", "add_note", "apply_status", "check_url", "delete_note", "expire_ignores",
           "link_issue", "locked_group", "newest_release", "notes_of"]

#: The longest external issue URL.
URL_CHARS = 1000
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\"'<>\\`]")
_EXPIRE_BATCH = 500


@dataclass(frozen=True)
class StatusChange:
    """A resolve, ignore or reopen, with its condition (at most one of the optional fields).

    ``ignored_for`` is a number of further reports; ``condition`` says the condition in
    words for the group's history.
    """

    project_id: str
    group_id: int
    status: str
    actor: str
    at: datetime
    resolved_in: str | None = None
    resolved_after: str | None = None
    ignored_until: datetime | None = None
    ignored_for: int | None = None
    ignored_until_release: str | None = None
    condition: str | None = None


def locked_group(conn: Connection, project_id: str, group_id: int) -> Any:
    """The group's row, locked for this transaction (PostgreSQL), or :class:`NotFound`."""
    if not 0 < group_id <= MAX_ID:
        raise NotFound
    stmt = sa.select(crash_groups).where(crash_groups.c.project_id == project_id, crash_groups.c.id == group_id)
    row = conn.execute(stmt if is_sqlite(conn) else stmt.with_for_update()).first()
    if row is None:
        raise NotFound
    return row


def newest_release(conn: Connection, project_id: str) -> str | None:
    """The project's newest release in ``grouping``'s order (None: none can be ordered)."""
    values = conn.execute(sa.select(project_filter_values.c.value).where(
        project_filter_values.c.project_id == project_id, project_filter_values.c.kind == FILTER_RELEASE)).scalars()
    return grouping.newest_release(values)


def apply_status(engine: Engine, audit: AuditTrail, change: StatusChange) -> None:
    """Store ``change`` (clearing any earlier condition and "ignore ended" flag), its history
    row and its ``group.status`` audit entry."""
    with write_tx(engine) as conn:
        row = locked_group(conn, change.project_id, change.group_id)
        if row.merged_into is not None:
            raise BadTriageAction("group", f"was merged into group {row.merged_into}: change that group, or unmerge")
        until_count = row.total_count + change.ignored_for if change.ignored_for is not None else None
        conn.execute(crash_groups.update().where(crash_groups.c.id == change.group_id).values(
            status=change.status, resolved_in=change.resolved_in, resolved_after=change.resolved_after,
            resolved_at=change.at if change.status == grouping.RESOLVED else None,
            ignored_until=change.ignored_until, ignored_until_count=until_count,
            ignored_until_release=change.ignored_until_release, ignore_ended=None, ignore_ended_at=None))
        conn.execute(group_status_changes.insert().values(
            group_id=change.group_id, project_id=change.project_id, status=change.status,
            resolved_in=change.resolved_in, condition=change.condition, changed_by=change.actor, changed_at=change.at))
        audit.record("group.status", actor=change.actor, project_id=change.project_id,
                     subject=f"group:{change.group_id}", detail=_status_detail(change), conn=conn)
    audit.checkpoint()


def _status_detail(change: StatusChange) -> dict[str, object]:
    detail: dict[str, object] = {"status": change.status}
    for name in ("resolved_in", "resolved_after", "ignored_until_release"):
        value = getattr(change, name)
        if value is not None:
            detail[name] = value
    if change.ignored_until is not None:
        detail["ignored_until"] = change.ignored_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    if change.ignored_for is not None:
        detail["ignored_for"] = change.ignored_for
    if change.status == grouping.RESOLVED and change.resolved_in is None and change.resolved_after is None:
        detail["resolved"] = "now"
    return detail


def expire_ignores(engine: Engine, project_id: str, now: datetime) -> int:
    """Reopen the project's groups whose ignore ended at a time before ``now`` (the pages
    call this before reading; ingest ends them as reports arrive). A read of a partial
    index when nothing is due; returns how many groups came back."""
    c = crash_groups.c
    due = (c.project_id == project_id, c.ignored_until.is_not(None), c.ignored_until <= now,
           c.status == grouping.IGNORED)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(c.id).where(*due).limit(_EXPIRE_BATCH)).scalars())
    if not ids:
        return 0
    with write_tx(engine) as conn:
        return int(conn.execute(crash_groups.update().where(c.id.in_(ids), *due).values(
            status=grouping.OPEN, ignore_ended="date", ignore_ended_at=c.ignored_until, ignored_until=None,
            ignored_until_count=None, ignored_until_release=None)).rowcount)


# -- notes ---------------------------------------------------------------------------------------


def add_note(engine: Engine, audit: AuditTrail, project_id: str, group_id: int, *, author: str, body: str,
             redacted: int, at: datetime) -> int:
    """Store a (redacted) note; its id. The audit entry holds its id, length and how many
    redactions were made, not its text."""
    if not body.strip() or len(body) > NOTE_CHARS:
        raise BadTriageAction("note", f"between 1 and {NOTE_CHARS} characters")
    with write_tx(engine) as conn:
        locked_group(conn, project_id, group_id)
        inserted = conn.execute(group_notes.insert().values(
            group_id=group_id, project_id=project_id, author=author, created_at=at, body=body)).inserted_primary_key
        assert inserted is not None
        note_id = int(inserted[0])
        audit.record("group.note.add", actor=author, project_id=project_id, subject=f"group:{group_id}",
                     detail={"note": note_id, "chars": len(body), "redacted": redacted}, conn=conn)
    audit.checkpoint()
    return note_id


def delete_note(engine: Engine, audit: AuditTrail, project_id: str, group_id: int, note_id: int, *,
                actor: str) -> None:
    """Delete the note ``note_id`` of the group if ``actor`` wrote it (else :class:`NotFound`)."""
    with write_tx(engine) as conn:
        locked_group(conn, project_id, group_id)
        done = conn.execute(group_notes.delete().where(
            group_notes.c.id == note_id, group_notes.c.group_id == group_id, group_notes.c.author == actor))
        if done.rowcount != 1:
            raise NotFound
        audit.record("group.note.delete", actor=actor, project_id=project_id, subject=f"group:{group_id}",
                     detail={"note": note_id}, conn=conn)
    audit.checkpoint()


def notes_of(conn: Connection, group_id: int, *, limit: int = 100) -> Sequence[Any]:
    """The group's notes, oldest first."""
    return conn.execute(sa.select(group_notes).where(group_notes.c.group_id == group_id)
                        .order_by(group_notes.c.created_at, group_notes.c.id).limit(limit)).all()


# -- the external issue --------------------------------------------------------------------------


def check_url(text: str) -> str | None:
    """``text`` as an issue link (None: remove the link), or :class:`BadTriageAction`.

    Only ``http``/``https`` URLs with a host, no user name or password, no spaces, quotes
    or control characters, at most :data:`URL_CHARS` characters."""
    text = text.strip()
    if not text:
        return None
    expected = f"an http:// or https:// address with a host, at most {URL_CHARS} characters, no spaces or quotes"
    if len(text) > URL_CHARS or _URL_FORBIDDEN.search(text):
        raise BadTriageAction("url", expected)
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise BadTriageAction("url", expected) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc or not port_ok:
        raise BadTriageAction("url", expected)
    return text


def link_issue(engine: Engine, audit: AuditTrail, project_id: str, group_id: int, url: str | None, *,
               actor: str) -> None:
    """Link (or, with None, unlink) the group's external issue; the audit entry holds the host only."""
    with write_tx(engine) as conn:
        locked_group(conn, project_id, group_id)
        conn.execute(crash_groups.update().where(crash_groups.c.id == group_id).values(external_url=url))
        host = (urlsplit(url).hostname or "") if url is not None else ""
        audit.record("group.link", actor=actor, project_id=project_id, subject=f"group:{group_id}",
                     detail={"host": host[:253]}, conn=conn)
    audit.checkpoint()
