"""``crashveil server init|migrate|run`` and the client certificates of mutual TLS.

Server directory layout (``crashveil server init DIR``)::

    DIR/settings.toml          settings (0600: may hold a database password)
    DIR/crashveil.db           SQLite database (unless --database postgresql://...)
    DIR/keys/kek.json          key-encryption key(s), 0600, directory 0700
    DIR/tls/ca.pem, ca.key     local CA (key 0600)
    DIR/tls/server.pem, .key   server certificate (SAN: loopback + --name), key 0600
    DIR/clients/NAME.pem, .key client certificates from issue-client-cert (key 0600); renewal
                               keeps the previous pair as NAME.SERIAL.pem, .key
    DIR/projects/ID/policy.toml  each project's policy (the database keeps every version)

Project private keys (HPKE, Ed25519) are in the database, wrapped under the KEK.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crashveil.cli.options import actor_option, policy_option, project_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.backup import backup_command, reanchor_command, restore_command
from crashveil.server.cli.context import dashboard_url, load_settings, open_storage, utc_now
from crashveil.server.cli.tables import print_table, table
from crashveil.server.settings import LOG_FORMATS, MAX_WORKERS

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["server_group"]


@click.group("server")
def server_group() -> None:
    """Create, migrate and run a server directory."""


@server_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@project_option("id of the first project", default="demo")
@click.option("--database", default=None, help="postgresql://USER@HOST/DB (default: SQLite in DIR)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8443, show_default=True, type=int, help="native report API (mutual TLS)")
@click.option("--web-port", default=8444, show_default=True, type=int,
              help="dashboard, public summary and Sentry-compatible ingest (no client certificate); 0 = off")
@click.option("--public-host", default="", help="host apps connect to (default: --host)")
@click.option("--public-url", default="", help="URL people and Sentry SDKs reach the web listener at, e.g. "
              "https://crash.example.com behind a reverse proxy (printed links and DSNs use it)")
@click.option("--name", "names", multiple=True, help="extra DNS name or IP for the server certificate (repeatable)")
@click.option("--suite", type=click.Choice(["mlkem768x25519", "x25519"]), default="mlkem768x25519",
              show_default=True, help="sealing suite of project keys")
@policy_option("policy of the first project (default: the shipped default policy)", must_exist=True)
@actor_option
def server_init(directory: str, project: str, database: str | None, host: str, port: int, web_port: int,
                public_host: str, public_url: str,
                names: Sequence[str], suite: str, policy_file: str | None, actor: str | None) -> None:
    """Create a server directory: settings, KEK, CA and server certificate, database, first project.

    Built in a hidden sibling and renamed into place at the end: a failure leaves nothing behind."""
    from crashveil.server.cli.first_run import InitRequest, init_server_dir

    who = resolve_actor(actor)
    policy_text = Path(policy_file).read_text(encoding="utf-8") if policy_file else None
    request = InitRequest(root=Path(directory).resolve(), project=project, database=database, host=host, port=port,
                          web_port=web_port, public_host=public_host, names=tuple(names), public_url=public_url,
                          suite=suite, policy_text=policy_text, actor=who)
    settings, project_id, dsn = init_server_dir(request)
    click.echo(f"server directory: {settings.server_dir}", err=True)
    if settings.web_port or settings.public_url:
        click.echo(f"dashboard: {dashboard_url(settings)}", err=True)
    click.echo(f"project {project_id}: connection string for the SDK (crashveil.init(dsn=...)):", err=True)
    click.echo(dsn)


@server_group.command("migrate")
@server_dir_option
def server_migrate(server_dir: str | None) -> None:
    """Bring the database schema up to date (safe to run again)."""
    from crashveil.server.cli.first_run import database_problem
    from crashveil.server.cluster.identity import check_identity
    from crashveil.server.db.engine import create_engine, migrate

    settings = load_settings(server_dir)
    engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        before, after = migrate(engine)
        check_identity(engine, settings.server_dir, now=utc_now())  # the directory's server is the database's
    except Exception as exc:
        problem = database_problem(settings.database_url, exc)
        if problem is None:
            raise
        raise problem from None
    finally:
        engine.dispose()
    click.echo(f"schema: {before or 'empty'} -> {after}" if before != after else f"schema: {after} (up to date)")


@server_group.command("issue-client-cert")
@click.argument("name")
@server_dir_option
@click.option("--days", default=None, type=click.IntRange(1, 825),
              help="validity (default: the client_cert_days setting, 90 unless set)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="directory for NAME.pem and NAME.key (default: SERVER_DIR/clients)")
@actor_option
def server_issue_client_cert(name: str, server_dir: str | None, days: int | None, out_dir: str | None,
                             actor: str | None) -> None:
    """Issue a TLS client certificate NAME.pem with its key NAME.key (0600); prints its expiry."""
    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    target = Path(out_dir) if out_dir else settings.clients_dir
    _issue_client_cert(settings, name, days, target, action="client_cert.issue", actor=who)


def _issue_client_cert(settings: Settings, name: str, days: int | None, target: Path, *, action: str, actor: str,
                       replaces: Sequence[str] = ()) -> None:
    """Issue, write, record in the register and audit one client certificate."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys import pki
    from crashveil.server.keys.client_certs import record_issued

    now = utc_now()
    ca = pki.load_ca(settings.ca_cert_path, settings.ca_key_path)
    issued = pki.issue_client_cert(ca, name, now=now, days=days or settings.client_cert_days)
    cert_path, key_path = target / f"{name}.pem", target / f"{name}.key"
    storage = open_storage(settings)
    try:
        pki.write_private_key(key_path, issued)
        pki.write_certificate(cert_path, issued)
        serial = record_issued(storage.engine, issued.certificate, name, now=now)
        detail: dict[str, Any] = {"name": name, "not_after": f"{issued.certificate.not_valid_after_utc:%Y-%m-%d}"}
        if replaces:
            detail["replaces"] = list(replaces)
        AuditTrail.for_server_dir(storage.engine, settings.server_dir).record(
            action, actor=actor, subject=f"client_cert:{serial}", detail=detail)
    finally:
        storage.close()
    click.echo(f"certificate: {cert_path}")
    click.echo(f"key:         {key_path}")
    click.echo(f"CA:          {settings.ca_cert_path}")
    click.echo(f"serial:      {serial}")
    click.echo(f"expires:     {issued.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


@server_group.command("renew-client-cert")
@click.argument("name")
@server_dir_option
@click.option("--days", default=None, type=click.IntRange(1, 825),
              help="validity (default: the client_cert_days setting, 90 unless set)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="directory of NAME.pem and NAME.key (default: SERVER_DIR/clients)")
@actor_option
def server_renew_client_cert(name: str, server_dir: str | None, days: int | None, out_dir: str | None,
                             actor: str | None) -> None:
    """Issue a new certificate for NAME; the old one keeps working until revoked.

    The old NAME.pem and NAME.key are kept as NAME.SERIAL.pem and NAME.SERIAL.key.
    """
    from cryptography import x509

    from crashveil.server.keys.client_certs import serial_hex

    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    target = Path(out_dir) if out_dir else settings.clients_dir
    cert_path, key_path = target / f"{name}.pem", target / f"{name}.key"
    replaces: list[str] = []
    if cert_path.exists():
        old = serial_hex(x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number)
        for path in (cert_path, key_path):
            if path.exists():
                kept = path.with_name(f"{name}.{old}{path.suffix}")
                os.link(path, kept)  # fails rather than overwrite
                path.unlink()
        replaces.append(old)
        click.echo(f"previous:    {target / f'{name}.{old}.pem'} "
                   f"(serial {old}; revoke it once clients have the new one)")
    _issue_client_cert(settings, name, days, target, action="client_cert.renew", actor=who, replaces=replaces)


@server_group.command("revoke-client-cert")
@click.argument("name", required=False)
@click.option("--serial", default=None, help="revoke the one certificate with this serial (hex)")
@server_dir_option
@actor_option
def server_revoke_client_cert(name: str | None, serial: str | None, server_dir: str | None,
                              actor: str | None) -> None:
    """Revoke every certificate of NAME, or the one with --serial; running servers refuse it within seconds."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys.client_certs import parse_serial, revoke

    if (name is None) == (serial is None):
        raise click.UsageError("give NAME or --serial, not both")
    who = resolve_actor(actor)
    try:
        wanted = parse_serial(serial) if serial is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--serial") from None
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        done = revoke(storage.engine, now=utc_now(), name=name, serial=wanted)
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        for record in done:
            trail.record("client_cert.revoke", actor=who, subject=f"client_cert:{record.serial}",
                         detail={"name": record.name})
    finally:
        storage.close()
    if not done:
        which = f"named {name!r}" if name else f"with serial {wanted}"
        raise click.ClickException(f"no unrevoked certificate {which}")
    for record in done:
        click.echo(f"revoked {record.serial} ({record.name})")


@server_group.command("list-client-certs")
@server_dir_option
def server_list_client_certs(server_dir: str | None) -> None:
    """List issued client certificates with their expiry and state."""
    from crashveil.server.keys.client_certs import list_certs

    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        records = list_certs(storage.engine)
    finally:
        storage.close()
    now = utc_now()
    shown = table("name", "serial", "expires", "state")
    for record in records:
        expired = record.not_after is not None and record.not_after <= now
        state = (f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "expired" if expired else "valid")
        shown.add_row(record.name, record.serial, f"{record.not_after:%Y-%m-%d}" if record.not_after else "-", state)
    print_table(shown)


@server_group.command("run")
@server_dir_option
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
              help="front processes; above 1 they share the ports and one more process stores "
                   "reports (default: the workers setting, which is 1 unless set)")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
              help="text lines, or one JSON object per line (default: the log_format setting, text unless set)")
def server_run(server_dir: str | None, workers: int | None, log_format: str | None) -> None:
    """Serve the ingest API (checks durability settings and schema first)."""
    from crashveil.server.http.run import run_server

    settings = load_settings(server_dir)
    if workers is not None:  # the flag wins over settings.toml and CRASHVEIL_WORKERS
        settings = dataclasses.replace(settings, workers=workers)
    if log_format is not None:
        settings = dataclasses.replace(settings, log_format=log_format)
    open_storage(settings).close()  # refuses unsafe durability settings or an unknown schema
    if settings.web_port or settings.public_url:
        click.echo(f"dashboard: {dashboard_url(settings)}", err=True)
    run_server(settings, workers=settings.workers)


def _attach_maintenance() -> None:
    """``upgrade`` and ``renew-cert`` live in cli/upgrade.py (keeping a server current)."""
    from crashveil.server.cli.upgrade import server_renew_cert, server_upgrade

    server_group.add_command(server_upgrade)
    server_group.add_command(server_renew_cert)


def _attach_hosts() -> None:
    """``add-host`` and ``hosts`` live in cluster/commands.py (several hosts over one database)."""
    from crashveil.server.cluster.commands import server_add_host, server_hosts

    server_group.add_command(server_add_host)
    server_group.add_command(server_hosts)


_attach_maintenance()
_attach_hosts()
for _command in (backup_command, restore_command, reanchor_command):
    server_group.add_command(_command)
