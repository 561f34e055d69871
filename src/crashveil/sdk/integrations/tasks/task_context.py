"""The task context a failed background task may carry: its registered name and retry count.

Only these two, each a policy field (``default.policy.toml``: ``task_name``, ``task_retries``),
and only where the consent level allows it. Never the task's arguments, keyword arguments,
result, id, queue or broker URL: nothing here reads them. The collector keeps a name only
while it still looks like a code name after redaction, and bounds the count
(``Collector._context_value``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TaskContext"]


@dataclass(frozen=True)
class TaskContext:
    """What a task integration (Celery, RQ) knows of the failed task (raw; shaped when built)."""

    name: str | None = None
    retries: int | None = None

    def fields(self) -> tuple[tuple[str, str | int], ...]:
        """The set values as ``(report field, value)`` pairs (``CrashRecord.context``)."""
        pairs: list[tuple[str, str | int]] = []
        if isinstance(self.name, str):
            pairs.append(("task_name", self.name))
        if isinstance(self.retries, int):
            pairs.append(("task_retries", self.retries))
        return tuple(pairs)
