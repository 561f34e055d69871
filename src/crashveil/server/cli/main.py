"""The server's commands (click), reached through ``crashveil server|project|keys ...``.

``crashveil.cli`` hands the whole argument list here (``main(argv)``). Commands that act on
an existing server directory take ``--server-dir`` (default: ``$CRASHVEIL_SERVER_DIR``,
else the current directory).

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
import functools
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from crashveil.errors import CrashveilError
from crashveil.server.cli.audit import actor_option, resolve_actor
from crashveil.server.settings import MAX_WORKERS, PRIVATE_UMASK
from crashveil.textsafe import visible

__all__ = ["main", "cli", "connection_string"]


def _now() -> datetime:
    return datetime.now(UTC)


def _server_dir(value: str | None) -> Path:
    from crashveil.server.settings import server_dir_from_env

    return server_dir_from_env(value, os.environ)


def _settings(server_dir: str | None) -> Any:
    from crashveil.server.settings import Settings

    return Settings.load(_server_dir(server_dir))


def _storage(settings: Any) -> Any:
    from crashveil.server.storage.store import Storage

    return Storage.open(settings)


server_dir_option = click.option(
    "--server-dir", "server_dir", type=click.Path(file_okay=False), default=None,
    help="server directory (default: $CRASHVEIL_SERVER_DIR, else the current directory)")


def connection_string(settings: Any, record: Any) -> str:
    """The connection string an app's SDK is configured with, for one project."""
    from crashveil.policy.protocol import ConnectionString
    from crashveil.server.keys.pki import ca_der

    return ConnectionString(host=settings.connect_host, port=settings.port, project=record.id,
                            public_key=record.keypairs[0].public_key_string(),
                            signing_key=record.signing_key.public_key_string(),
                            ca_der=ca_der(settings.ca_cert_path)).format()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """crashveil server administration."""


# --- server ---------------------------------------------------------------------------------


@cli.group("server")
def server_group() -> None:
    """Create, migrate and run a server directory."""


@server_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--project", default="demo", show_default=True, help="id of the first project")
@click.option("--database", default=None, help="postgresql://USER@HOST/DB (default: SQLite in DIR)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8443, show_default=True, type=int, help="native report API (mutual TLS)")
@click.option("--web-port", default=8444, show_default=True, type=int,
              help="dashboard, public summary and Sentry-compatible ingest (no client certificate); 0 = off")
@click.option("--public-host", default="", help="host apps connect to (default: --host)")
@click.option("--name", "names", multiple=True, help="extra DNS name or IP for the server certificate (repeatable)")
@click.option("--suite", type=click.Choice(["mlkem768x25519", "x25519"]), default="mlkem768x25519",
              show_default=True, help="sealing suite of project keys")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="policy of the first project (default: the shipped default policy)")
@actor_option
def server_init(directory: str, project: str, database: str | None, host: str, port: int, web_port: int,
                public_host: str,
                names: Sequence[str], suite: str, policy_file: str | None, actor: str | None) -> None:
    """Create a server directory: settings, KEK, CA and server certificate, database, first project."""
    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.keys import pki
    from crashveil.server.keys.ring import FileKeyProvider
    from crashveil.server.settings import DEFAULT_DATABASE, Settings, resolve_database_url, write_settings

    who = resolve_actor(actor)
    root = Path(directory).resolve()
    if (root / "settings.toml").exists():
        raise click.ClickException(f"{root} is already a server directory")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = _now()
    settings = Settings(server_dir=root, database_url=resolve_database_url(database or DEFAULT_DATABASE, root),
                        host=host, port=port, web_port=web_port, public_host=public_host, server_names=tuple(names),
                        sealing_suite=suite)
    settings.validate()
    policy_text = Path(policy_file).read_text(encoding="utf-8") if policy_file else None

    FileKeyProvider.create(settings.kek_path, now=now)
    ca = pki.create_ca("crashveil local CA", now=now)
    pki.write_certificate(settings.ca_cert_path, ca)
    pki.write_private_key(settings.ca_key_path, ca)
    server = pki.issue_server_cert(ca, names, now=now)
    pki.write_certificate(settings.server_cert_path, server)
    pki.write_private_key(settings.server_key_path, server)
    settings.tls_dir.chmod(0o700)

    engine = create_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    write_settings(settings)
    storage = _storage(settings)
    try:
        record = _add_project(settings, storage, project, policy_text, public_summary=False, actor=who)
        click.echo(f"server directory: {root}", err=True)
        click.echo(f"project {record.id}: connection string for the SDK (crashveil.init(dsn=...)):", err=True)
        click.echo(connection_string(settings, record))
    finally:
        storage.close()


@server_group.command("migrate")
@server_dir_option
def server_migrate(server_dir: str | None) -> None:
    """Bring the database schema up to date (safe to run again)."""
    from crashveil.server.db.engine import create_engine, migrate

    settings = _settings(server_dir)
    engine = create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        before, after = migrate(engine)
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
    settings = _settings(server_dir)
    target = Path(out_dir) if out_dir else settings.clients_dir
    _issue_client_cert(settings, name, days, target, action="client_cert.issue", actor=who)


def _issue_client_cert(settings: Any, name: str, days: int | None, target: Path, *, action: str, actor: str,
                       replaces: Sequence[str] = ()) -> None:
    """Issue, write, record in the register and audit one client certificate."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys import pki
    from crashveil.server.keys.client_certs import record_issued

    now = _now()
    ca = pki.load_ca(settings.ca_cert_path, settings.ca_key_path)
    issued = pki.issue_client_cert(ca, name, now=now, days=days or settings.client_cert_days)
    cert_path, key_path = target / f"{name}.pem", target / f"{name}.key"
    storage = _storage(settings)
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
    settings = _settings(server_dir)
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
        click.echo(
            f"previous:    {target / f'{name}.{old}.pem'} (serial {old}; revoke it once clients have the new one)"
        )
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
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        done = revoke(storage.engine, now=_now(), name=name, serial=wanted)
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        for record in done:
            trail.record("client_cert.revoke", actor=who, subject=f"client_cert:{record.serial}",
                         detail={"name": record.name})
    finally:
        storage.close()
    if not done:
        raise click.ClickException(
            f"no unrevoked certificate {'named ' + repr(name) if name else 'with serial ' + str(wanted)}"
        )
    for record in done:
        click.echo(f"revoked {record.serial} ({record.name})")


@server_group.command("list-client-certs")
@server_dir_option
def server_list_client_certs(server_dir: str | None) -> None:
    """List issued client certificates with their expiry and state."""
    from crashveil.server.keys.client_certs import list_certs

    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        records = list_certs(storage.engine)
    finally:
        storage.close()
    now = _now()
    table = _table("name", "serial", "expires", "state")
    for record in records:
        expired = record.not_after is not None and record.not_after <= now
        state = (f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "expired" if expired else "valid")
        table.add_row(record.name, record.serial, f"{record.not_after:%Y-%m-%d}" if record.not_after else "-", state)
    _print(table)


@server_group.command("run")
@server_dir_option
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
              help="front processes; above 1 they share the ports and one more process stores "
                   "reports (default: the workers setting, which is 1 unless set)")
def server_run(server_dir: str | None, workers: int | None) -> None:
    """Serve the ingest API (checks durability settings and schema first)."""
    from crashveil.server.http.run import run_server

    settings = _settings(server_dir)
    if workers is not None:  # the flag wins over settings.toml and CRASHVEIL_WORKERS
        settings = dataclasses.replace(settings, workers=workers)
    _storage(settings).close()  # refuses unsafe durability settings or an unknown schema
    run_server(settings, workers=settings.workers)


# --- projects -------------------------------------------------------------------------------


@cli.group("project")
def project_group() -> None:
    """Manage projects: each has its own keys and policy."""


def _add_project(settings: Any, storage: Any, project_id: str, policy_text: str | None, *,
                 public_summary: bool, actor: str) -> Any:
    from crashveil.policy import default_policy_path
    from crashveil.server.cli.audit import record as audit

    text = policy_text if policy_text is not None else default_policy_path().read_text(encoding="utf-8")
    record = storage.create_project(project_id, policy_toml=text, public_summary=public_summary)
    path = settings.policy_path(project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    audit(storage, "project.create", actor=actor, project_id=record.id, subject=f"project:{record.id}",
          detail={"policy_version": record.policy.version, "policy_digest": record.digest,
                  "public_summary": bool(public_summary), "keys": len(record.keypairs) + len(record.signing_keys)})
    return record


@project_group.command("add")
@click.argument("project_id")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="policy file (default: a copy of the shipped default policy)")
@click.option("--public-summary", is_flag=True, help="publish the anonymized public summary")
@server_dir_option
@actor_option
def project_add(project_id: str, policy_file: str | None, public_summary: bool, server_dir: str | None,
                actor: str | None) -> None:
    """Create project PROJECT_ID and print its connection string."""
    who = resolve_actor(actor)
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        text = Path(policy_file).read_text(encoding="utf-8") if policy_file else None
        record = _add_project(settings, storage, project_id, text, public_summary=public_summary, actor=who)
        click.echo(connection_string(settings, record))
    finally:
        storage.close()


@project_group.command("list")
@server_dir_option
def project_list(server_dir: str | None) -> None:
    """List projects with their policy version and digest."""
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        rows = storage.list_projects()
    finally:
        storage.close()
    table = _table("id", "policy", "digest", "groups", "public summary", "created")
    for row in rows:
        table.add_row(row.id, row.policy_version, row.policy_digest[:19], str(row.groups),
                      "yes" if row.public_summary else "no", f"{row.created_at:%Y-%m-%d}")
    _print(table)


@project_group.command("set-policy")
@click.argument("project_id")
@click.argument("policy_file", type=click.Path(dir_okay=False, exists=True))
@server_dir_option
@actor_option
def project_set_policy(project_id: str, policy_file: str, server_dir: str | None, actor: str | None) -> None:
    """Make POLICY_FILE the project's policy (reports built under older ones stay valid)."""
    from crashveil.server.cli.audit import record as audit

    who = resolve_actor(actor)
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        before = storage.project(project_id, fresh=True)
        if before is None:
            raise click.ClickException(f"no project {project_id!r}")
        text = Path(policy_file).read_text(encoding="utf-8")
        digest = storage.set_policy(project_id, text)
        settings.policy_path(project_id).write_text(text, encoding="utf-8")
        after = storage.project(project_id, fresh=True)
        audit(storage, "policy.change", actor=who, project_id=project_id, subject=f"policy:{digest}"[:256],
              detail={"from_digest": before.digest, "from_version": before.policy.version,
                      "to_digest": digest, "to_version": after.policy.version if after else None})
    finally:
        storage.close()
    click.echo(digest)


@project_group.command("connection-string")
@click.argument("project_id")
@server_dir_option
def project_connection_string(project_id: str, server_dir: str | None) -> None:
    """Print the project's connection string (with its newest keys)."""
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        record = storage.project(project_id)
        if record is None:
            raise click.ClickException(f"no project {project_id!r}")
        click.echo(connection_string(settings, record))
    finally:
        storage.close()


# --- keys -----------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Rotate and list keys."""


@keys_group.command("rotate")
@click.option("--kek/--no-kek", default=True, show_default=True, help="rotate the key-encryption key")
@click.option("--project-keys/--no-project-keys", default=True, show_default=True,
              help="rotate project HPKE and signing keys")
@click.option("--project", "project_ids", multiple=True, help="only these projects (default: all)")
@click.option("--overlap-days", type=int, default=None,
              help="days old HPKE/signing keys keep working (default: settings key_overlap_days)")
@server_dir_option
@actor_option
def keys_rotate(kek: bool, project_keys: bool, project_ids: Sequence[str], overlap_days: int | None,
                server_dir: str | None, actor: str | None) -> None:
    """Rotate keys. The KEK rotation rewraps data keys; no report is rewritten."""
    from crashveil.server.cli.audit import record as audit

    who = resolve_actor(actor)
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        now = _now()
        gone = storage.destroy_expired_keys(now=now)
        for key_id in gone:
            audit(storage, "key.destroy", actor=who, subject=f"key:{key_id}"[:256],
                  detail={"kind": "project key", "reason": "expired"})
            click.echo(f"destroyed expired key {key_id}")
        if project_keys:
            ids = list(project_ids) or [p.id for p in storage.list_projects()]
            overlap = timedelta(days=overlap_days) if overlap_days is not None else None
            for project_id in ids:
                created = storage.rotate_project_keys(project_id, now=now, overlap=overlap)
                audit(storage, "key.rotate", actor=who, project_id=project_id, subject=f"project:{project_id}",
                      detail={"kind": "project keys", "new_keys": list(created),
                              "overlap_days": overlap_days if overlap_days is not None else settings.key_overlap_days})
                click.echo(f"project {project_id}: new keys {', '.join(created)}")
                record = storage.project(project_id, fresh=True)
                click.echo(f"project {project_id}: new connection string: {connection_string(settings, record)}")
        if kek:
            result = storage.rotate_kek(now=now)
            audit(storage, "key.rotate", actor=who, subject=f"kek:{result.new_kek_id}"[:256],
                  detail={"kind": "kek", "rewrapped_data_keys": result.rewrapped_data_keys,
                          "rewrapped_project_keys": result.rewrapped_project_keys, "retired": list(result.retired)})
            click.echo(f"KEK {result.new_kek_id}: rewrapped {result.rewrapped_data_keys} data keys and "
                       f"{result.rewrapped_project_keys} other keys; retired {', '.join(result.retired) or 'none'}")
            for kek_id in result.destroyed_keks:
                audit(storage, "key.destroy", actor=who, subject=f"kek:{kek_id}"[:256],
                      detail={"kind": "kek", "reason": "retired past kek_retired_keep_days"})
                click.echo(f"destroyed retired KEK {kek_id}")
    finally:
        storage.close()


@keys_group.command("list")
@server_dir_option
def keys_list(server_dir: str | None) -> None:
    """Show every key with its age and state (no secret is printed)."""
    settings = _settings(server_dir)
    storage = _storage(settings)
    try:
        now = _now()
        keks = storage.keys.provider.keys()
        project_keys = storage.list_keys()
        summary = storage.data_key_summary()
        periods = {}
        for summary_row in storage.list_projects():
            record = storage.project(summary_row.id)
            if record is not None:
                periods[summary_row.id] = record.policy.keys
    finally:
        storage.close()
    table = _table("key", "kind", "project", "algorithm", "age (days)", "state", "due")
    kek_period = min((p.kek_cryptoperiod_days for p in periods.values()), default=365)
    for info in sorted(keks, key=lambda k: k.created_at):
        age = (now - info.created_at).days
        state = "current" if info.current else f"retired {info.retired_at:%Y-%m-%d}" if info.retired_at else "old"
        table.add_row(info.kek_id, "kek", "-", "aes-256-gcm", str(age), state,
                      "ROTATE" if info.current and age >= kek_period else "")
    for key in project_keys:
        age = (now - key.created_at).days
        state = key.state(now)
        if state == "overlap" and key.expires_at is not None:
            state = f"overlap until {key.expires_at:%Y-%m-%d}"
        policy_keys = periods.get(key.project_id)
        period = None
        if policy_keys is not None:
            period = (policy_keys.hpke_key_cryptoperiod_days if key.kind == "hpke"
                      else policy_keys.signing_key_cryptoperiod_days)
        due = "ROTATE" if period is not None and key.state(now) == "current" and age >= period else ""
        table.add_row(key.key_id, key.kind, key.project_id, key.algorithm, str(age), state, due)
    _print(table)
    for kek_id, oldest, count, newest in summary:
        click.echo(f"data keys under {kek_id}: {count} (days {oldest} .. {newest})")


# --- output and entry point -----------------------------------------------------------------


def _table(*columns: str) -> Any:
    """A rich table whose string cells are plain text: rich markup (``[red]``) is not
    interpreted and controls are shown as escapes (``crashveil.textsafe.visible``)."""
    from rich.text import Text

    table = _plain_table_class()(show_edge=False, pad_edge=False, box=None)
    for column in columns:
        table.add_column(Text(visible(column)))
    return table


@functools.cache
def _plain_table_class() -> Any:
    from rich.table import Table
    from rich.text import Text

    class PlainTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(Text(visible(c)) if isinstance(c, str) else c for c in cells), **kwargs)

    return PlainTable


def _print(table: Any) -> None:
    from rich.console import Console

    Console(width=200, soft_wrap=True).print(table)


def _attach_groups() -> None:
    """Command groups other server modules contribute: governance and Sentry DSN keys."""
    from crashveil.server.cli.governance import register as register_governance
    from crashveil.server.governance.release_gate import release_group
    from crashveil.server.sentry.keys import sentry_key_group

    register_governance(cli)
    cli.add_command(release_group)
    project_group.add_command(sentry_key_group)


_attach_groups()


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server command; returns the exit code (0 ok, 1 failed, 2 usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Whatever a command writes into a server directory (database, keys, certificates,
    # policies, settings) is for the server's user only: files 0600, directories 0700.
    old_umask = os.umask(PRIVATE_UMASK)
    try:
        return _main(args)
    finally:
        os.umask(old_umask)


def _main(args: list[str]) -> int:
    try:
        cli.main(args=args, prog_name="crashveil", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except CrashveilError as exc:
        click.echo(f"crashveil: error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
