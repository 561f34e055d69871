"""Keeping a server directory current: ``crashveil server upgrade`` (its database schema) and
``crashveil server renew-cert`` (its TLS certificate). Both are attached to the ``server``
group by ``cli/server.py``.

A server runs only on the schema it was built for, so an upgrade needs every server process
over the database stopped (docs/upgrade.md): the dry run says so, with the steps it would run.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import confirm_or_refuse, load_settings, open_storage, utc_now

if TYPE_CHECKING:
    from crashveil.server.db.revisions import SchemaState
    from crashveil.server.settings import Settings

__all__ = ["server_upgrade", "server_renew_cert"]

DOWNTIME = ("stop every crashveil server process on this database (all hosts) before upgrading, "
            "and start them with the new version afterwards: a server runs only on the schema it was built for")

BACKUP = ("the database ('crashveil server backup', or with the server stopped a copy of the SQLite file or a "
          "pg_dump) and the server directory; rollback = restore both and reinstall the previous crashveil "
          "(docs/upgrade.md)")


@click.command("upgrade")
@server_dir_option
@click.option("--dry-run", is_flag=True, help="show the current and target revisions and the steps; change nothing")
@click.option("--yes", is_flag=True, help="do not ask for confirmation (you have a backup, the server is stopped)")
@actor_option
def server_upgrade(server_dir: str | None, dry_run: bool, yes: bool, actor: str | None) -> None:
    """Upgrade the database schema to this version's (shows the steps and the downtime first)."""
    from crashveil.errors import SchemaAheadError
    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.db.revisions import read_state
    from crashveil.server.governance.audit import AuditTrail

    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        state = read_state(engine)
        if not state.known:
            assert state.current is not None  # an empty database is known
            raise SchemaAheadError(state.current, state.head)
        _show_plan(settings, state)
        if state.up_to_date or dry_run:
            click.echo("dry run: nothing changed" if dry_run and not state.up_to_date else "nothing to do")
            return
        confirm_or_refuse(f"upgrade the schema from {state.current or 'empty'} to {state.head} now?", yes=yes)
        started = time.monotonic()
        before, after = migrate(engine)
        click.echo(f"schema: {before or 'empty'} -> {after} ({len(state.steps)} steps, "
                   f"{time.monotonic() - started:.1f} s)")
        if before is not None:  # an empty database has no audit trail yet
            AuditTrail.for_server_dir(engine, settings.server_dir).record(
                "schema.upgrade", actor=who, subject=f"schema:{after}",
                detail={"from": before, "to": after, "steps": len(state.steps)})
    finally:
        engine.dispose()


def _show_plan(settings: Settings, state: SchemaState) -> None:
    """Current and target revision, the steps, and whether the server must be stopped."""
    from sqlalchemy.engine import make_url

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"database:         {where}")
    click.echo(f"current revision: {state.current or 'empty (no schema)'}")
    click.echo(f"target revision:  {state.head}")
    if state.up_to_date:
        click.echo("steps:            none (up to date)")
        return
    click.echo(f"steps:            {len(state.steps)}")
    for step in state.steps:
        click.echo(f"  {step.down_revision or 'empty'} -> {step.revision}  {step.summary}")
    click.echo(f"downtime:         {DOWNTIME}")
    click.echo(f"back up first:    {BACKUP}")
    if _listening(settings.host, settings.port):
        click.echo(f"warning:          something answers on {settings.host}:{settings.port}: "
                   "is a server still running?", err=True)


def _listening(host: str, port: int) -> bool:
    """Whether a TCP connection to the server's port succeeds now (a server still running)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


@click.command("renew-cert")
@server_dir_option
@click.option("--add-name", "added", multiple=True, help="another DNS name or IP address for it (repeatable)")
@click.option("--days", type=click.IntRange(1, 397), default=None, help="validity (default: 397)")
@actor_option
def server_renew_cert(server_dir: str | None, added: Sequence[str], days: int | None, actor: str | None) -> None:
    """Renew the server's TLS certificate from the local CA, keeping its names (and adding --add-name)."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys import server_cert

    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)  # first: a database that cannot record the renewal stops it
    try:
        renewed = server_cert.renew(settings, added_names=added, days=days, now=utc_now())
        AuditTrail.for_server_dir(storage.engine, settings.server_dir).record(
            "server_cert.renew", actor=who, subject=f"server_cert:{renewed.serial}",
            detail={"names": list(renewed.names), "added": list(renewed.added), "replaces": renewed.replaces,
                    "not_after": f"{renewed.not_after:%Y-%m-%d}"})
    finally:
        storage.close()
    click.echo(f"certificate: {settings.server_cert_path}")
    click.echo(f"names:       {', '.join(renewed.names)}")
    click.echo(f"expires:     {renewed.not_after:%Y-%m-%d %H:%M} UTC")
    click.echo(f"previous:    {renewed.kept_cert} (serial {renewed.replaces})")
    click.echo("restart the server to serve it (running processes keep the certificate they started with); "
               "apps need nothing new: they pin the CA, which is unchanged")
