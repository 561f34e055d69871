"""``crashveil alert``: alert rules per project (add, list, remove) and the delivery log.

Rules name destinations of the project's policy (``[forwarding.NAME]``); the log shows each
delivery attempt's status and short detail, never what was sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from crashveil.cli.options import format_option, project_option, server_dir_option
from crashveil.server.alerts.notification import RULE_KINDS
from crashveil.server.cli.context import opened
from crashveil.textsafe import visible

if TYPE_CHECKING:
    from crashveil.server.alerts.rules import AlertRule

__all__ = ["alert_group"]


@click.group("alert")
def alert_group() -> None:
    """Alert rules per project and their delivery log."""


@alert_group.command("add")
@project_option("project id", dest="project_id", required=True)
@click.option("--kind", type=click.Choice(list(RULE_KINDS)), required=True, help="what makes a notification")
@click.option("--destination", "destinations", multiple=True, required=True,
              help="a destination the project's policy forwards to ([forwarding.NAME]); repeatable")
@click.option("--threshold", type=float, default=None,
              help="spike: factor over the hourly baseline (3); crash_free_rate: percentage (required)")
@click.option("--min-count", type=int, default=None, help="spike: reports in the hour at least (10)")
@click.option("--release", default=None, help="crash_free_rate: watch this release (default: the recent ones)")
@click.option("--quiet", default=None, help="quiet hours HH:MM-HH:MM, local time in --timezone")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the quiet hours")
@click.option("--quiet-mode", type=click.Choice(["digest", "latest"]), default="digest", show_default=True,
              help="after quiet hours: one digest of what waited, or only the latest")
@click.option("--dedupe-window", "dedupe_window_s", type=int, default=86400, show_default=True,
              help="seconds in which one incident makes one notification")
@server_dir_option
def alert_add(project_id: str, kind: str, destinations: tuple[str, ...], threshold: float | None,
              min_count: int | None, release: str | None, quiet: str | None, timezone: str, quiet_mode: str,
              dedupe_window_s: int, server_dir: str | None) -> None:
    """Add an alert rule; prints its id."""
    from crashveil.server.alerts.rules import add_rule, make_rule

    with opened(server_dir) as (_, storage):
        record = storage.project(project_id, fresh=True)
        if record is None:
            raise click.UsageError(f"no project {project_id!r}")
        rule = make_rule(project_id, kind, destinations, record.policy, threshold=threshold, min_count=min_count,
                         release=release, quiet=quiet, timezone=timezone, quiet_mode=quiet_mode,
                         dedupe_window_s=dedupe_window_s)
        click.echo(add_rule(storage.engine, rule, now=datetime.now(UTC)))


@alert_group.command("list")
@project_option("project id", dest="project_id", required=True)
@format_option("text", "json")
@server_dir_option
def alert_list(project_id: str, fmt: str, server_dir: str | None) -> None:
    """The project's alert rules."""
    from crashveil.server.alerts.rules import list_rules

    with opened(server_dir) as (_, storage):
        rules = list_rules(storage.engine, project_id)
    if fmt == "json":
        click.echo(json.dumps([_rule_json(r) for r in rules], indent=2))
        return
    for r in rules:
        quiet = (f" quiet {r.quiet.start:%H:%M}-{r.quiet.end:%H:%M} {r.quiet.timezone} ({r.quiet.mode})"
                 if r.quiet else "")
        extra = f" threshold {r.threshold:g}" if r.threshold is not None else ""
        extra += f" release {r.release}" if r.release else ""
        click.echo("\t".join(visible(cell) for cell in (str(r.id), r.kind, f"-> {', '.join(r.destinations)}"
                                                                                  f"{extra}{quiet}")))
    if not rules:
        click.echo("no alert rules")


def _rule_json(r: AlertRule) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "destinations": list(r.destinations), "threshold": r.threshold,
            "min_count": r.min_count, "release": r.release, "dedupe_window_s": r.dedupe_window_s,
            "quiet": None if r.quiet is None else {"start": f"{r.quiet.start:%H:%M}", "end": f"{r.quiet.end:%H:%M}",
                                                    "timezone": r.quiet.timezone, "mode": r.quiet.mode}}


@alert_group.command("remove")
@click.argument("rule_id", type=int)
@project_option("project id", dest="project_id", required=True)
@server_dir_option
def alert_remove(rule_id: int, project_id: str, server_dir: str | None) -> None:
    """Remove alert rule RULE_ID (its waiting notifications go with it)."""
    from crashveil.server.alerts.rules import remove_rule

    with opened(server_dir) as (_, storage):
        if not remove_rule(storage.engine, project_id, rule_id):
            raise click.UsageError(f"no alert rule {rule_id} in project {project_id!r}")
    click.echo(f"removed alert rule {rule_id}")


@alert_group.command("deliveries")
@project_option("project id", dest="project_id", required=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option("text", "json")
@server_dir_option
def alert_deliveries(project_id: str, limit: int, fmt: str, server_dir: str | None) -> None:
    """The delivery log: each attempt's time, destination, attempt, status and detail."""
    from crashveil.server.alerts.log import delivery_log

    with opened(server_dir) as (_, storage):
        entries = delivery_log(storage.engine, project_id, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([entry.to_json() for entry in entries], indent=2))
        return
    for e in entries:
        cells = (e.at.isoformat(), e.destination, f"rule {e.rule_id}", f"attempt {e.attempt}",
                 "ok" if e.ok else "failed", str(e.status) if e.status is not None else "-", e.detail)
        click.echo("\t".join(visible(cell) for cell in cells))
    if not entries:
        click.echo("no deliveries")
