"""The refusals the ingest routes answer with, built in one place so their codes and words
stay the same wherever a report is refused (native route, Sentry route, deletion)."""

from __future__ import annotations

import re

from crashveil.errors import ReportRejected
from crashveil.wire.protocol import PROJECT_ID_PATTERN

__all__ = ["check_project_id", "outside_window", "reject", "unknown_project"]

_PROJECT_RE = re.compile(PROJECT_ID_PATTERN)


def reject(code: str, message: str, *, status: int = 422, field: str | None = None) -> ReportRejected:
    return ReportRejected(code, message, field=field, status=status)


def outside_window() -> ReportRejected:
    """422: the report's hour is not accepted. Also the answer to a report an erasure's
    tombstone refuses: the same code and words as an old report, so the answer does not say
    that an erasure happened, and a 4xx the SDK drops (never retried)."""
    return reject("outside_replay_window", "the report's hour is outside the accepted window", field="occurred_hour")


def unknown_project() -> ReportRejected:
    return reject("unknown_project", "no such project", status=404)


def check_project_id(project_id: str) -> None:
    """404 for a project id that cannot exist (checked before any lookup or limiter key)."""
    if not _PROJECT_RE.match(project_id):
        raise unknown_project()

