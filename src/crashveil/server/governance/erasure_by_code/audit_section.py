"""The audit report's section on erasures by installation code (``erase.py``).

Counted from the audit trail's ``erasure.by_code`` entries of the period: how many, per project,
how many reports they deleted, and each one's time, officer, request id and stated reason. No
code, no pseudonym: the entries never held them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol

from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.erasure_by_code.erase import ACTION

__all__ = ["BlockWriter", "erasure_by_code_blocks", "erasures_by_code"]

_ENTRY_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class BlockWriter(Protocol):
    """What a section writes to (``audit_report._Blocks``)."""

    def h(self, level: int, text: str) -> None: ...
    def para(self, *parts: Any) -> None: ...
    def table(self, head: list[str], rows: list[list[Any]]) -> None: ...


def erasures_by_code(audit: AuditTrail, *, since: datetime, until: datetime) -> dict[str, Any]:
    """The section's data: counts and the period's erasures by code (JSON-able)."""
    entries = audit.entries(since=since.astimezone(UTC).strftime(_ENTRY_TIME),
                            until=until.astimezone(UTC).strftime(_ENTRY_TIME), actions=[ACTION])
    rows = []
    for entry in entries:
        detail = entry.details
        rows.append({"at": entry.at, "actor": entry.actor, "project": entry.project_id, "request": entry.subject,
                     "reason": detail.get("reason"), "reports_deleted": detail.get("reports_deleted", 0)})
    per_project = Counter(str(row["project"]) for row in rows)
    return {"count": len(rows), "reports_deleted": sum(int(row["reports_deleted"] or 0) for row in rows),
            "by_project": dict(sorted(per_project.items())), "entries": rows}


def erasure_by_code_blocks(b: BlockWriter, data: dict[str, Any]) -> None:
    """The section, from ``data["erasures_by_code"]`` (absent: nothing)."""
    section = data.get("erasures_by_code")
    if section is None:
        return
    b.h(2, "Erasures by installation code")
    b.para(f"{section['count']} erasure(s) by installation code in the period, deleting "
           f"{section['reports_deleted']} report(s) in all.")
    b.table(["project", "erasures"], [[project, count] for project, count in section["by_project"].items()])
    b.table(["at", "by", "project", "request", "reports deleted", "reason"],
            [[e["at"], e["actor"], e["project"], e["request"], e["reports_deleted"], e["reason"]]
             for e in section["entries"]])
