"""The audit report's privacy feedback section: items per topic and status in the period.

Counts only (never a text, a reply or a pseudonym), per project, from
``server/feedback/store.py``. ``audit_report.py`` calls :func:`feedback_section` for each project's
data and :func:`feedback_blocks` to render it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from crashveil.policy.model import Policy
from crashveil.server.feedback.store import topic_counts
from crashveil.server.feedback.tables import STATUSES

__all__ = ["BlockSink", "feedback_blocks", "feedback_section"]


class BlockSink(Protocol):
    """What rendering needs of the audit report's blocks."""

    def h(self, level: int, text: str) -> None: ...
    def para(self, *parts: Any) -> None: ...
    def table(self, head: list[str], rows: list[list[Any]]) -> None: ...


def feedback_section(conn: Connection, project_id: str, policy: Policy, *, since: datetime,
                     until: datetime) -> dict[str, Any] | None:
    """Per topic: items received in the period by status; None when the policy has no ``[feedback]``."""
    rule = policy.feedback
    if rule is None:
        return None
    counts = topic_counts(conn, project_id, since_day=since.date().isoformat(), until_day=until.date().isoformat())
    topics = [*rule.topics, *sorted(set(counts) - set(rule.topics))]  # a topic an older policy had
    return {"retention_days": rule.retention_days, "access": list(rule.access),
            "topics": [{"topic": topic, **{status: counts.get(topic, {}).get(status, 0) for status in STATUSES}}
                       for topic in topics]}


def feedback_blocks(b: BlockSink, project: dict[str, Any]) -> None:
    """The section of one project (nothing when its policy has no feedback channel)."""
    section = project.get("feedback")
    if section is None:
        return
    b.h(3, "Privacy feedback by topic (received in the period)")
    b.para(f"Kept {section['retention_days']} days; read and answered by {', '.join(section['access'])}.")
    b.table(["topic", *STATUSES, "total"],
            [[t["topic"], *(t[s] for s in STATUSES), sum(t[s] for s in STATUSES)] for t in section["topics"]])
