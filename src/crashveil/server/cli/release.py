"""``crashveil release check``: gate a rollout on the server's redaction-regression counters.

Exit 0 when the server redacted nothing from the release's reports, 1 when it had to (or,
with ``--strict``, dropped fields outside the policy), 2 on usage errors.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import format_option, project_option, server_dir_option
from crashveil.server.cli.context import opened
from crashveil.textsafe import visible

if TYPE_CHECKING:
    from crashveil.server.governance.release_gate import ReleaseCheck

__all__ = ["release_group"]


@click.group("release")
def release_group() -> None:
    """Gate a release on the server's redaction-regression counters."""


@release_group.command("check")
@click.argument("release")
@project_option("project id", dest="project_id", required=True)
@click.option("--strict", is_flag=True, help="also fail when the server dropped fields outside the policy")
@format_option("text", "json")
@server_dir_option
@click.pass_context
def release_check(ctx: click.Context, release: str, project_id: str, strict: bool, fmt: str,
                  server_dir: str | None) -> None:
    """Exit 0 when the server redacted nothing from RELEASE's reports, 1 when it had to, 2 on errors."""
    from crashveil.server.governance.release_gate import check_release, known_releases

    with opened(server_dir) as (_, storage):
        if storage.project(project_id) is None:
            raise click.UsageError(f"no project {project_id!r}")
        known = known_releases(storage.engine, project_id)
        result = check_release(storage.engine, project_id, release) if release in known else None
    if result is None:
        click.echo(_unknown_release(release, project_id, known), err=True)
        ctx.exit(2)
        return
    click.echo(json.dumps(result.to_json(strict=strict), indent=2) if fmt == "json" else _text(result, strict))
    if not result.passed(strict=strict):
        ctx.exit(1)


#: Most known releases an unknown release's error lists.
_SHOWN_RELEASES = 10


def _unknown_release(release: str, project_id: str, known: list[str]) -> str:
    """The one line for a release no report came from (exit 2): a typo must not pass the gate."""
    if not known:
        listed = "no release has reported to it yet"
    else:
        more = f" and {len(known) - _SHOWN_RELEASES} more" if len(known) > _SHOWN_RELEASES else ""
        listed = "known releases, newest first: " + ", ".join(known[:_SHOWN_RELEASES]) + more
    return visible(f"Error: unknown release {release!r} in project {project_id}: no report of it reached the "
                   f"server ({listed})")


def _text(result: ReleaseCheck, strict: bool) -> str:
    """The report of one release check, one finding a line."""
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
