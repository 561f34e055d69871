"""Per-release privacy gate: did the server have to redact what the SDK should have caught?

The SDK redacts every string on the device; the server redacts again and counts every hit
per project × release × field × detector (``redaction_counters``). A hit means personal data
left a device of that release: a redaction regression. ``crashveil release check R``
(``crashveil.server.cli.release``) reads those counters and fails (exit 1) when there is any,
so a team can stop a rollout.

Fields the server dropped (unknown to the format, or above the report's consent level) are
counted under the detector ``_dropped``; they are listed, and fail the check with ``--strict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crashveil.server.db.tables import group_rollups, redaction_counters
from crashveil.server.storage.records import DROPPED_DETECTOR

__all__ = ["ReleaseCheck", "check_release", "known_releases"]


@dataclass(frozen=True)
class ReleaseCheck:
    """The counters of one release: ``hits`` and ``dropped`` map (field, detector) to counts."""

    project_id: str
    release: str
    hits: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def passed(self, *, strict: bool = False) -> bool:
        return not self.hits and not (strict and self.dropped)

    def to_json(self, *, strict: bool = False) -> dict[str, Any]:
        return {
            "project": self.project_id, "release": self.release, "passed": self.passed(strict=strict),
            "redaction_hits": [{"field": f, "detector": d, "count": n} for (f, d), n in sorted(self.hits.items())],
            "dropped_fields": [{"field": f, "count": n} for f, n in sorted(self.dropped.items())],
        }


def check_release(engine: sa.Engine, project_id: str, release: str) -> ReleaseCheck:
    """Sum the server-side redaction counters of ``release`` in ``project_id``."""
    query = (sa.select(redaction_counters.c.field, redaction_counters.c.detector,
                       sa.func.sum(redaction_counters.c.hits))
             .where(redaction_counters.c.project_id == project_id, redaction_counters.c.release == release)
             .group_by(redaction_counters.c.field, redaction_counters.c.detector))
    hits: dict[tuple[str, str], int] = {}
    dropped: dict[str, int] = {}
    with engine.connect() as conn:
        for field_name, detector, count in conn.execute(query):
            if detector == DROPPED_DETECTOR:
                dropped[field_name] = dropped.get(field_name, 0) + int(count)
            else:
                hits[(field_name, detector)] = int(count)
    return ReleaseCheck(project_id, release, hits, dropped)


def known_releases(engine: sa.Engine, project_id: str) -> list[str]:
    """The releases ``project_id`` has reports or counters of, the most recently seen first.

    A release is known by its hourly roll-ups (so one whose reports all expired is no
    longer known) or its redaction counters; the empty release (not given) is left out.
    """
    seen = (sa.select(group_rollups.c.release, sa.func.max(group_rollups.c.hour).label("last"))
            .where(group_rollups.c.project_id == project_id, group_rollups.c.release != "")
            .group_by(group_rollups.c.release))
    counted = (sa.select(redaction_counters.c.release).distinct()
               .where(redaction_counters.c.project_id == project_id, redaction_counters.c.release != ""))
    with engine.connect() as conn:
        by_hour = sorted(((row.last, row.release) for row in conn.execute(seen)), reverse=True)
        releases = [release for _, release in by_hour]
        releases += sorted(set(conn.execute(counted).scalars()) - set(releases))
    return releases
