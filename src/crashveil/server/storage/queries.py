"""Read paths of the facade that are plain SQL over one connection: project summaries,
a receipt's public status, a group, the data keys per KEK."""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import crash_groups, data_keys, project_policies, projects, reports
from crashveil.server.ingest import grouping
from crashveil.server.storage.records import GroupRecord, ProjectSummary, ReceiptStatus

__all__ = ["data_key_summary", "group_record", "project_summaries", "receipt_status"]


def project_summaries(conn: sa.Connection) -> list[ProjectSummary]:
    """Every project, with its current policy's version and digest and its group count."""
    rows = conn.execute(sa.select(projects).order_by(projects.c.id)).all()
    result = []
    for row in rows:
        latest = conn.execute(sa.select(project_policies.c.version, project_policies.c.digest)
                              .where(project_policies.c.project_id == row.id)
                              .order_by(project_policies.c.created_at.desc()).limit(1)).first()
        groups = conn.execute(sa.select(sa.func.count()).select_from(crash_groups)
                              .where(crash_groups.c.project_id == row.id)).scalar_one()
        result.append(ProjectSummary(row.id, row.created_at, latest.version if latest else "",
                                     latest.digest if latest else "", bool(row.public_summary), groups))
    return result


def receipt_status(conn: sa.Connection, receipt: str) -> ReceiptStatus | None:
    """The public status of the report with this receipt, or ``None``."""
    row = conn.execute(
        sa.select(reports.c.receipt, reports.c.received_hour, crash_groups.c.status, crash_groups.c.resolved_in)
        .join(crash_groups, crash_groups.c.id == reports.c.group_id)
        .where(reports.c.receipt == receipt)).first()
    if row is None:
        return None
    if row.status == grouping.RESOLVED:
        return ReceiptStatus(row.receipt, "fixed", row.resolved_in, row.received_hour)
    return ReceiptStatus(row.receipt, "grouped", None, row.received_hour)


def group_record(conn: sa.Connection, project_id: str, group_id: int) -> GroupRecord | None:
    row = conn.execute(sa.select(crash_groups).where(crash_groups.c.project_id == project_id,
                                                     crash_groups.c.id == group_id)).first()
    if row is None:
        return None
    return GroupRecord(row.id, row.project_id, row.fingerprint, row.crash_type, row.status, row.first_seen,
                       row.last_seen, row.first_release, row.last_release, row.resolved_in, row.regressed_in,
                       row.total_count)


def data_key_summary(conn: sa.Connection) -> list[tuple[str, str | None, int, str | None]]:
    """Per KEK id: (kek id, oldest day, live data keys, newest day)."""
    rows = conn.execute(
        sa.select(data_keys.c.kek_id, sa.func.min(data_keys.c.day), sa.func.count(), sa.func.max(data_keys.c.day))
        .where(data_keys.c.wrapped_dek.is_not(None)).group_by(data_keys.c.kek_id)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]
