"""Erasure in the database: delete an installation's reports, rebuild the sketches they were
counted in, take them out of their groups' triage state (``storage.erasure_groups``), forget them in
the open days' adoption de-duplication sets, leave tombstones and record the request, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.adoption_tables import forget_installs
from crashveil.server.db.rollup_tables import rebuild_install_sketches
from crashveil.server.db.tables import crash_groups, deletion_requests, reports
from crashveil.server.feedback.tables import forget_feedback
from crashveil.server.governance import tombstones
from crashveil.server.storage.erasure_groups import ErasedInGroup, update_erased_groups
from crashveil.server.storage.records import DeletionRecord
from crashveil.server.storage.statements import CHUNK

__all__ = ["delete_installs"]


def delete_installs(conn: sa.Connection, project_id: str, request_id: str, install_ids: Sequence[str], *,
                    now: datetime) -> DeletionRecord:
    """``Storage.process_deletion_request`` in ``conn``'s write transaction (see there)."""
    ids = sorted(set(install_ids))
    tombstones.lock_projects(conn, [project_id], exclusive=True)
    report_ids, pairs, erased = _delete_reports_of(conn, project_id, ids)
    deleted = len(report_ids)
    rebuild_install_sketches(conn, pairs)
    update_erased_groups(conn, erased)
    forget_installs(conn, project_id, ids, today=now.date())
    forget_feedback(conn, project_id, ids)  # feedback the user linked to these installations' reports
    tombstones.record(conn, project_id, ids, report_ids, now=now)
    row = conn.execute(sa.select(deletion_requests).where(
        deletion_requests.c.project_id == project_id,
        deletion_requests.c.request_id == request_id).with_for_update()).first()
    if row is not None:
        total = row.deleted_count + deleted
        conn.execute(deletion_requests.update().where(
            deletion_requests.c.project_id == project_id,
            deletion_requests.c.request_id == request_id).values(deleted_count=total))
        return DeletionRecord(request_id, project_id, total, row.processed_at)
    conn.execute(deletion_requests.insert().values(
        project_id=project_id, request_id=request_id, install_count=len(ids), deleted_count=deleted,
        received_at=now, processed_at=now))
    return DeletionRecord(request_id, project_id, deleted, now)


def _delete_reports_of(conn: sa.Connection, project_id: str, install_ids: Sequence[str]
                       ) -> tuple[list[str], set[tuple[int, str]], dict[int, ErasedInGroup]]:
    """Delete the reports of ``install_ids`` in ``project_id``, in ``conn``'s transaction;
    returns their report ids (for the tombstones), the (group id, day of ``reports.hour``)
    pairs they were in (the sketches to rebuild), and what each group lost.

    The groups are locked first (PostgreSQL; SQLite's write lock covers it), in id order as
    ingest takes them: ingest reads, merges and writes a group's sketches under that lock,
    so none can add to a sketch between the rebuild's read of the reports and its write.
    The pairs come from the deleted rows themselves (RETURNING), so a report stored between
    the lock and the delete is not missed.
    """
    deleted: list[str] = []
    pairs: set[tuple[int, str]] = set()
    erased: dict[int, ErasedInGroup] = {}
    chunks = [install_ids[start:start + CHUNK] for start in range(0, len(install_ids), CHUNK)]
    groups: set[int] = set()
    for chunk in chunks:
        groups.update(conn.execute(sa.select(reports.c.group_id).distinct().where(
            reports.c.project_id == project_id, reports.c.install_id.in_(chunk))).scalars())
    _lock_groups(conn, groups)
    r = reports.c
    for chunk in chunks:
        for row in conn.execute(reports.delete().where(r.project_id == project_id, r.install_id.in_(chunk)).returning(
                r.group_id, r.hour, r.report_id, r.day, r.received_at, r.release, r.os_family, r.data_key_id,
                r.deployment, r.platform)):
            deleted.append(row.report_id)
            pairs.add((row.group_id, row.hour[:10]))
            erased.setdefault(row.group_id, ErasedInGroup()).add(
                row.day, row.hour, row.received_at, row.release, row.os_family, counts_only=row.data_key_id is None,
                deployment=row.deployment, platform=row.platform)
    _lock_groups(conn, {group_id for group_id, _ in pairs} - groups)  # stored since the first read: rare
    return deleted, pairs, erased


def _lock_groups(conn: sa.Connection, group_ids: set[int]) -> None:
    """``SELECT ... FOR UPDATE`` the groups ``group_ids``, in id order (PostgreSQL only)."""
    if not group_ids or db.is_sqlite(conn):
        return
    ordered = sorted(group_ids)
    for start in range(0, len(ordered), CHUNK):
        conn.execute(sa.select(crash_groups.c.id).where(crash_groups.c.id.in_(ordered[start:start + CHUNK]))
                     .order_by(crash_groups.c.id).with_for_update()).all()
