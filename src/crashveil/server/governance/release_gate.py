"""Per-release privacy gate: did the server have to redact what the SDK should have caught?

The SDK redacts every string on the device; the server redacts again and counts every hit
per project × release × field × detector (``redaction_counters``). A hit means personal data
left a device of that release: a redaction regression. ``crashveil release check R`` reads
those counters and fails (exit 1) when there is any, so a team can stop a rollout.

Fields the server dropped (unknown to the format, or above the report's consent level) are
counted under the detector ``_dropped``; they are listed, and fail the check with ``--strict``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import click
import sqlalchemy as sa

from crashveil.server.db.tables import redaction_counters
from crashveil.server.storage.records import DROPPED_DETECTOR
from crashveil.textsafe import visible

__all__ = ["ReleaseCheck", "check_release", "release_group"]


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


def _text(result: ReleaseCheck, strict: bool) -> str:
    lines = [f"crashveil release check: {'passed' if result.passed(strict=strict) else 'FAILED'} "
             f"(project {result.project_id}, release {result.release})"]
    for (field_name, detector), count in sorted(result.hits.items()):
        lines.append(f"  redaction regression: field {field_name}: {count} x <{detector}> removed by the server")
    for field_name, count in sorted(result.dropped.items()):
        mark = "  dropped (fails with --strict)" if not strict else "  dropped"
        lines.append(f"{mark}: field {field_name}: {count} report(s) carried it outside the policy")
    if not result.hits and not result.dropped:
        lines.append("  the server redacted and dropped nothing from this release's reports")
    return "\n".join(visible(line) for line in lines)


@click.group("release")
def release_group() -> None:
    """Gate a release on the server's redaction-regression counters."""


@release_group.command("check")
@click.argument("release")
@click.option("--project", "project_id", required=True, help="project id")
@click.option("--strict", is_flag=True, help="also fail when the server dropped fields outside the policy")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--server-dir", "server_dir", type=click.Path(file_okay=False), default=None,
              help="server directory (default: $CRASHVEIL_SERVER_DIR, else the current directory)")
def release_check(release: str, project_id: str, strict: bool, fmt: str, server_dir: str | None) -> None:
    """Exit 0 when the server redacted nothing from RELEASE's reports, 1 when it had to, 2 on errors."""
    from crashveil.server.cli.main import _settings, _storage

    storage = _storage(_settings(server_dir))
    try:
        if storage.project(project_id) is None:
            raise click.UsageError(f"no project {project_id!r}")
        result = check_release(storage.engine, project_id, release)
    finally:
        storage.close()
    click.echo(json.dumps(result.to_json(strict=strict), indent=2) if fmt == "json" else _text(result, strict))
    if not result.passed(strict=strict):
        raise SystemExit(1)
