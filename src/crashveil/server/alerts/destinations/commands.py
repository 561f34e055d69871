"""``crashveil destination``: where a project's alerts are sent.

``add`` stores one (its secret sealed, read from ``--secret-env VAR`` so it stays out of the
shell history; a webhook's signing secret is made and printed once when none is given),
``list`` shows them without any secret, ``remove`` deletes one, ``test`` sends a test
notification and prints how the delivery went.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from crashveil.cli.options import actor_option, format_option, project_option, server_dir_option
from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.records import KINDS, ConfigValue, DestinationRecord, check_destination_name
from crashveil.server.cli.audit import record, resolve_actor
from crashveil.server.cli.context import dashboard_url, opened
from crashveil.textsafe import visible

if TYPE_CHECKING:
    from crashveil.policy.model import Policy

__all__ = ["destination_group"]


@click.group("destination")
def destination_group() -> None:
    """Alert destinations: webhooks, chat, issue trackers, e-mail."""


def forwarding_names(policy: Policy) -> frozenset[str]:
    """The ``[forwarding.NAME]`` names of a project's policy: the only destinations it may have."""
    return frozenset(policy.forwarding)


def check_forwarding_kind(policy: Policy, name: str, kind: str) -> None:
    """A destination must be of the kind its ``[forwarding.NAME]`` entry declares."""
    rule = policy.forwarding.get(name)
    if rule is not None and rule.kind != kind:
        raise DestinationError(f"destination {name!r} is declared as kind {rule.kind!r} in the policy's "
                               f"[forwarding.{name}], not {kind!r}")


def _secret_from_env(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise click.UsageError(f"--secret-env {var}: the variable is not set or empty")
    return value


def _host(url: str) -> str:
    """What ``list`` shows of a URL (sealed: its path or query may hold a credential)."""
    return urlsplit(url).hostname or ""


def _settings_of(kind: str, options: dict[str, str | int | tuple[str, ...] | None],
                 secret: str | None) -> tuple[dict[str, ConfigValue], dict[str, str], str | None]:
    """(readable config, sealed secrets, a secret to print once) for ``kind`` from the options."""
    def many(key: str) -> list[str]:
        value = options.get(key)
        return list(value) if isinstance(value, tuple) else []

    def need(key: str) -> str:
        value = options.get(key)
        if not isinstance(value, str) or not value:
            raise click.UsageError(f"--kind {kind} needs --{key.replace('_', '-')}")
        return value

    if kind == "webhook":
        shown = None if secret else secrets.token_urlsafe(32)
        return {"host": _host(need("url"))}, {"url": need("url"), "secret": secret or str(shown)}, shown
    if kind in ("slack", "teams"):
        url = secret or need("url")  # the URL is the credential: --secret-env keeps it out of the history
        return {"host": _host(url)}, {"url": url}, None
    if kind in ("github", "gitlab"):
        if not secret:
            raise click.UsageError(f"--kind {kind} needs --secret-env VAR holding the API token")
        config: dict[str, ConfigValue] = {"repo" if kind == "github" else "project": need("repo"),
                                          "labels": many("labels")}
        if options.get("api_url"):
            config["api_url"] = need("api_url")
        return config, {"token": secret}, None
    config = {"host": need("smtp_host"), "security": need("security"), "from": need("sender"),
              "to": many("to")}
    if options.get("smtp_port"):
        config["port"] = int(str(options["smtp_port"]))
    for key in ("username", "ca_file"):
        if options.get(key):
            config[key] = need(key)
    return config, ({"password": secret} if secret else {}), None


@destination_group.command("add")
@click.argument("name")
@project_option("project id", dest="project_id", required=True)
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--url", default=None, help="webhook: where to POST; slack/teams: the incoming-webhook URL "
                                          "(better: --secret-env)")
@click.option("--secret-env", "secret_env", default=None, metavar="VAR",
              help="environment variable holding the secret: webhook signing secret (default: made and shown "
                   "once), slack/teams URL, github/gitlab token, SMTP password")
@click.option("--repo", default=None, help="github: owner/name; gitlab: project id or group/name")
@click.option("--api-url", "api_url", default=None, help="github/gitlab: API base URL (self-hosted)")
@click.option("--label", "labels", multiple=True, help="github/gitlab: issue label (repeatable)")
@click.option("--smtp-host", "smtp_host", default=None, help="email: SMTP server")
@click.option("--smtp-port", "smtp_port", default=None, type=int, help="email: port (default 587, ssl 465)")
@click.option("--security", default="starttls", show_default=True, type=click.Choice(["starttls", "ssl", "plain"]),
              help="email: TLS mode")
@click.option("--from", "sender", default=None, help="email: sender address")
@click.option("--to", "to", multiple=True, help="email: recipient (repeatable)")
@click.option("--username", default=None, help="email: SMTP log-in name (password from --secret-env)")
@click.option("--ca-file", "ca_file", default=None, type=click.Path(dir_okay=False, exists=True),
              help="email: CA certificates (PEM) to verify the SMTP server with, instead of the system's")
@server_dir_option
@actor_option
def destination_add(name: str, project_id: str, kind: str, secret_env: str | None, server_dir: str | None,
                    actor: str | None, **options: str | int | tuple[str, ...] | None) -> None:
    """Add destination NAME to a project (a [forwarding.NAME] entry of its policy)."""
    who = resolve_actor(actor)
    config, sealed, shown = _settings_of(kind, options, _secret_from_env(secret_env))
    with opened(server_dir) as (_, storage):
        from crashveil.server.alerts.destinations.store import add_destination

        project = storage.project(project_id)
        if project is None:
            raise click.UsageError(f"no project {project_id!r}")
        try:
            check_destination_name(name, forwarding_names(project.policy))
            check_forwarding_kind(project.policy, name, kind)
            add_destination(storage, DestinationRecord(project_id, name, kind, config, sealed))
        except DestinationError as exc:
            raise click.ClickException(str(exc)) from None
        record(storage, "destination.add", actor=who, project_id=project_id, subject=f"destination:{name}",
               detail={"name": name, "kind": kind})
    click.echo(f"destination {name} ({kind}) added to project {project_id}", err=True)
    if shown is not None:
        click.echo("webhook signing secret (shown once; receivers verify with it):", err=True)
        click.echo(shown)


@destination_group.command("list")
@project_option("only this project", dest="project_id")
@format_option("text", "json")
@server_dir_option
def destination_list(project_id: str | None, fmt: str, server_dir: str | None) -> None:
    """List destinations and their settings (never a secret)."""
    from crashveil.server.alerts.destinations.store import list_destinations

    with opened(server_dir) as (_, storage):
        found = list_destinations(storage, project_id)
    if fmt == "json":
        click.echo(json.dumps([{"project": d.project_id, "name": d.name, "kind": d.kind, "config": d.config,
                                "created_at": d.created_at.isoformat()} for d in found], indent=2))
        return
    for d in found:
        settings = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in sorted(d.config.items()))
        click.echo(visible(f"{d.project_id}  {d.name}  {d.kind}  {settings}"))
    if not found:
        click.echo("no destinations", err=True)


@destination_group.command("remove")
@click.argument("name")
@project_option("project id", dest="project_id", required=True)
@server_dir_option
@actor_option
def destination_remove(name: str, project_id: str, server_dir: str | None, actor: str | None) -> None:
    """Remove destination NAME (and its sealed secret)."""
    from crashveil.server.alerts.destinations.store import load_summary, remove_destination

    who = resolve_actor(actor)
    with opened(server_dir) as (_, storage):
        found = load_summary(storage, project_id, name)
        if found is None or not remove_destination(storage, project_id, name):
            raise click.ClickException(f"project {project_id!r} has no destination {name!r}")
        record(storage, "destination.remove", actor=who, project_id=project_id, subject=f"destination:{name}",
               detail={"name": name, "kind": found.kind})
    click.echo(f"destination {name} removed from project {project_id}")


@destination_group.command("test")
@click.argument("name")
@project_option("project id", dest="project_id", required=True)
@server_dir_option
@click.pass_context
def destination_test(ctx: click.Context, name: str, project_id: str, server_dir: str | None) -> None:
    """Send a test notification to NAME and print how the delivery went (exit 1 if it failed)."""
    from crashveil.server.alerts.destinations.records import make_destination
    from crashveil.server.alerts.destinations.store import load_destination
    from crashveil.server.alerts.notification import Notification

    with opened(server_dir) as (settings, storage):
        try:
            found = load_destination(storage, project_id, name)
            if found is None:
                raise click.ClickException(f"project {project_id!r} has no destination {name!r}")
            destination = make_destination(found)
        except DestinationError as exc:
            raise click.ClickException(str(exc)) from None
        link = dashboard_url(settings)
    now = datetime.now(UTC)
    result = destination.deliver(Notification(
        project_id=project_id, rule="new_group", dedupe_key=f"test:{name}:{now.timestamp():.0f}",
        title="crashveil test notification", summary=f"A test from 'crashveil destination test {name}'.",
        link=link, occurred_at=now, fields={}))
    wait = "" if result.retry_after_s is None else f" retry_after_s={result.retry_after_s:g}"
    click.echo(visible(f"ok={str(result.ok).lower()} status={result.status} retryable={str(result.retryable).lower()}"
                       f"{wait} detail={result.detail}"))
    if not result.ok:
        ctx.exit(1)
