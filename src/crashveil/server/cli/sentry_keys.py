"""``crashveil project sentry-key create|list|set-level|revoke``: DSN keys for Sentry SDKs.

The keys themselves (stored as SHA-256, each with its consent level, audited) are
``crashveil.server.sentry.keys.SentryKeys``; these commands open a server directory and
check a level against the project's policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import opened

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.server.sentry.keys import SentryKeys
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import ProjectRecord

__all__ = ["sentry_key_group"]


@contextmanager
def _project_keys(server_dir: str | None, project: str) -> Iterator[tuple[Settings, ProjectRecord, SentryKeys]]:
    """(settings, the project's record, audited keys) of the server directory."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.sentry.keys import SentryKeys

    with opened(server_dir) as (settings, storage):
        record = storage.project(project)
        if record is None:
            raise click.ClickException(f"no project {project!r}")
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        yield settings, record, SentryKeys(storage.engine, audit=trail)


def _checked_level(policy: Policy, level: str | None, option: str) -> str | None:
    if level is not None and (level not in policy.level_names or policy.rank(level) == 0):
        names = ", ".join(n for n in policy.level_names if policy.rank(n) > 0)
        raise click.ClickException(f"{option} must be one of: {names}")
    return level


def _shown(policy: Policy, level: str | None) -> str:
    from crashveil.server.sentry.keys import default_level

    return level if level is not None else f"{default_level(policy)} (default)"


@click.group("sentry-key")
def sentry_key_group() -> None:
    """DSN keys for Sentry SDKs sending to this server."""


@sentry_key_group.command("create")
@click.argument("project")
@click.option("--label", default="default", show_default=True, help="a name for the key")
@click.option("--level", default=None, help="consent level events sent with this key are treated at "
                                            "(default: the policy's lowest level above off)")
@click.option("--host", default=None, help="host written into the DSN (default: public_url's, else the public host)")
@click.option("--port", type=int, default=None,
              help="port written into the DSN (default: public_url's, else the web listener's)")
@click.option("--scheme", type=click.Choice(["https", "http"]), default=None,
              help="scheme of the DSN (default: public_url's, else https when TLS is on)")
@server_dir_option
@actor_option
def sentry_key_create(project: str, label: str, level: str | None, host: str | None, port: int | None,
                      scheme: str | None, server_dir: str | None, actor: str | None) -> None:
    """Create a DSN key for PROJECT and print the DSN (shown once).

    The DSN points at the listener that serves Sentry ingest: the ``public_url`` setting
    when set (a reverse proxy with a public certificate), else the web listener
    (``web_port``, TLS under the server's local CA: give SDKs ``ca_certs``, see docs/sentry.md).
    """
    from crashveil.server.sentry.keys import format_dsn

    who = resolve_actor(actor)
    with _project_keys(server_dir, project) as (settings, record, keys):
        sentry_project, key = keys.create_key(project, label=label,
                                              level=_checked_level(record.policy, level, "--level"), actor=who)
    own_scheme, own_host, own_port = settings.web_endpoint
    dsn = format_dsn(key, sentry_project.numeric_id, host=host or own_host, port=port or own_port,
                     scheme=scheme or own_scheme)
    click.echo(dsn)
    click.echo(f"# level: {_shown(record.policy, sentry_project.level)}; the key is not shown again", err=True)
    if not settings.web_port and settings.tls and settings.require_client_cert and not settings.public_url:
        click.echo("# warning: web_port is 0 and the one listener asks for client certificates, which Sentry "
                   "SDKs cannot present; set web_port or public_url", err=True)
    elif settings.tls and not settings.public_url:
        click.echo(f"# the server's certificate is signed by its local CA ({settings.ca_cert_path}): "
                   "give SDKs ca_certs, or set public_url to a proxy with a public certificate", err=True)


@sentry_key_group.command("list")
@click.argument("project")
@click.option("--fields", "show_fields", is_flag=True, help="also list the event fields left out, by reason")
@server_dir_option
def sentry_key_list(project: str, show_fields: bool, server_dir: str | None) -> None:
    """List the DSN keys of PROJECT (prefixes only): level, events stored, and what was dropped, by reason.

    Dropped counts are the server's outcomes (rate limits, items that are not error events,
    ...) and, as ``client:<reason>``, what the SDKs reported discarding themselves.
    """
    from crashveil.server.cli.tables import print_table, table
    from crashveil.server.sentry.outcomes import key_outcomes

    with _project_keys(server_dir, project) as (_, record, keys):
        infos = keys.list_keys(project)
        outcomes = key_outcomes(keys.engine, [info.key_id for info in infos])
    rows = table("prefix", "label", "level", "events stored", "dropped by reason", "created", "state")
    for info in infos:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}Z" if info.revoked_at else "active"
        counts = outcomes[info.key_id]
        dropped = ", ".join(f"{reason} {n}" for reason, n in counts.dropped_by_reason().items()) or "none"
        rows.add_row(f"{info.prefix}…", info.label, _shown(record.policy, info.level), str(counts.stored), dropped,
                     f"{info.created_at:%Y-%m-%d}", state)
    print_table(rows)
    if show_fields:
        fields = table("prefix", "field", "reason", "count")
        for info in infos:
            for subject, reason, n in outcomes[info.key_id].rows("field"):
                fields.add_row(f"{info.prefix}…", subject, reason, str(n))
        print_table(fields)


@sentry_key_group.command("set-level")
@click.argument("project")
@click.argument("prefix")
@click.argument("level")
@server_dir_option
@actor_option
def sentry_key_set_level(project: str, prefix: str, level: str, server_dir: str | None, actor: str | None) -> None:
    """Treat events sent with the key PREFIX of PROJECT at LEVEL ('default': the policy's lowest level above
    off). Audited."""
    who = resolve_actor(actor)
    with _project_keys(server_dir, project) as (_, record, keys):
        wanted = None if level == "default" else _checked_level(record.policy, level, "LEVEL")
        found, changed = keys.set_level(project, prefix, wanted, actor=who)
    if not found:
        raise click.ClickException(f"no active key {prefix}… in project {project!r}")
    click.echo(f"key {prefix}…: level {_shown(record.policy, wanted)}" + ("" if changed else " (unchanged)"))


@sentry_key_group.command("revoke")
@click.argument("project")
@click.argument("prefix")
@server_dir_option
@actor_option
def sentry_key_revoke(project: str, prefix: str, server_dir: str | None, actor: str | None) -> None:
    """Revoke the DSN key of PROJECT whose prefix is PREFIX."""
    who = resolve_actor(actor)
    with _project_keys(server_dir, project) as (_, _record, keys):
        count = keys.revoke(project, prefix, actor=who)
    if not count:
        raise click.ClickException(f"no active key {prefix}… in project {project!r}")
    click.echo(f"revoked {count} key(s)")
