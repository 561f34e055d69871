"""``crashveil incident open|purge|close|list``: the privacy-incident workflow on the command line.

Each command opens the server directory (``server/cli/context.py``), acts through
``incidents.py`` / ``purge.py`` and prints ids, counts, field names and times: never report
content. Every change is in the audit trail with ``--actor`` (default ``os:<user>``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, project_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import opened, utc_now

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.storage.store import Storage

__all__ = ["incident_group"]


@contextmanager
def _open(server_dir: str | None) -> Iterator[tuple[Storage, AuditTrail]]:
    from crashveil.server.governance.audit import AuditTrail

    with opened(server_dir) as (settings, storage):
        yield storage, AuditTrail.for_server_dir(storage.engine, settings.server_dir)


class _Moment(click.ParamType):
    """An ISO date or date-time; naive values are UTC."""

    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail("not an ISO date or date-time (2026-12-01 or 2026-12-01T08:00Z)", param, ctx)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.group("incident")
def incident_group() -> None:
    """Privacy incidents: stop a leaking field, purge it, close with a postmortem."""


@incident_group.command("open")
@click.option("--field", required=True, help="the policy field suspected of leaking")
@click.option("--release", "releases", multiple=True, help="an affected release (repeat; default: every release)")
@click.option("--since", required=True, type=_Moment(), help="first affected receive time (ISO date or date-time)")
@click.option("--until", type=_Moment(), default=None, help="end of the affected time range (default: now)")
@click.option("--reason", required=True, help="what was found (kept in the audit trail; no report content)")
@project_option("the affected project (default: every project)")
@server_dir_option
@actor_option
def incident_open(field: str, releases: tuple[str, ...], since: datetime, until: datetime | None, reason: str,
                  project: str | None, server_dir: str | None, actor: str | None) -> None:
    """Record a suspected leak and stop collecting the field at once (signed config and ingest)."""
    from crashveil.server.governance.lifecycle.incidents import open_incident

    who, now = resolve_actor(actor), utc_now()
    with _open(server_dir) as (storage, trail):
        if project is not None and storage.project(project) is None:
            raise click.BadParameter(f"no project {project!r}", param_hint="--project")
        incident = open_incident(storage.engine, trail, field=field, project_id=project, releases=releases,
                                 since=since, until=until or now, reason=reason, actor=who, now=now)
    click.echo(f"incident {incident.id} opened: field {incident.field} stopped for {incident.scope}; "
               f"next: crashveil incident purge {incident.id}")


@incident_group.command("purge")
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--confirm", is_flag=True, help="purge (without it: a dry run that changes nothing)")
@server_dir_option
@actor_option
def incident_purge(incident_id: int, confirm: bool, server_dir: str | None, actor: str | None) -> None:
    """Show what matches the incident (dry run); with --confirm remove the field from stored details."""
    from crashveil.server.governance.lifecycle.incidents import get_incident
    from crashveil.server.governance.lifecycle.purge import plan_purge, run_purge
    from crashveil.server.ops.progress import stop_on_signals

    who = resolve_actor(actor)
    with _open(server_dir) as (storage, trail), stop_on_signals() as stop:
        incident = get_incident(storage.engine, incident_id)
        if incident is None:
            raise click.BadParameter(f"no incident {incident_id}", param_hint="ID")
        plan = (run_purge(storage, trail, incident, actor=who, now=utc_now(), stop=lambda: stop.requested)
                if confirm else plan_purge(storage, incident))
    verb = "purged" if confirm else "would purge"
    for project_id, (seen, found) in sorted(plan.per_project().items()):
        click.echo(f"{project_id}: {seen} report(s) in scope, {found} detail(s) carry {incident.field}: {verb}")
    if not plan.days:
        click.echo("no stored report matches the incident's scope")
    if confirm:
        click.echo(f"details re-encrypted under fresh day keys; {plan.groups_cleared} group title(s) cleared")
    else:
        print(f"dry run: nothing changed; run again with --confirm to purge incident {incident_id}", file=sys.stderr)


@incident_group.command("close")
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--summary", required=True, help="what was found and done (goes into the audit report)")
@click.option("--lift-stop", is_flag=True, help="also lift the incident's field stop (collection resumes)")
@server_dir_option
@actor_option
def incident_close(incident_id: int, summary: str, lift_stop: bool, server_dir: str | None,
                   actor: str | None) -> None:
    """Close an incident with its summary."""
    from crashveil.server.governance.lifecycle.incidents import close_incident

    with _open(server_dir) as (storage, trail):
        incident = close_incident(storage.engine, trail, incident_id, summary=summary, actor=resolve_actor(actor),
                                  now=utc_now(), lift=lift_stop)
    click.echo(f"incident {incident.id} closed" + ("; field stop lifted" if lift_stop else ""))


@incident_group.command("list")
@server_dir_option
def incident_list(server_dir: str | None) -> None:
    """Every incident: id, state, field, scope, time range."""
    from crashveil.server.governance.lifecycle.incidents import list_incidents

    with _open(server_dir) as (storage, _trail):
        for incident in list_incidents(storage.engine):
            releases = ",".join(incident.releases) or "every release"
            click.echo(f"{incident.id}  {incident.status:<7} {incident.field}  {incident.scope}  {releases}  "
                       f"{incident.since.isoformat()} .. {incident.until.isoformat()}")
