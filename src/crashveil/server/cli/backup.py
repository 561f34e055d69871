"""``crashveil server backup|restore|reanchor-audit``: sealed backups and audited restores.

The passphrase comes from ``--passphrase-file``, else ``CRASHVEIL_BACKUP_PASSPHRASE``, else an
interactive prompt; never from a command-line argument (other users can read those in ``ps``).
Progress goes to stderr on a terminal or with ``--progress``. SIGINT/SIGTERM stop at a safe
point and leave neither a half-written archive nor a half-restored directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import load_settings

if TYPE_CHECKING:
    from crashveil.server.ops.progress import Progress

__all__ = ["backup_command", "reanchor_command", "restore_command"]

PASSPHRASE_ENV = "CRASHVEIL_BACKUP_PASSPHRASE"


def _passphrase(path: str | None, *, confirm: bool) -> bytes:
    """The passphrase from the file (its first line), the environment, or a prompt."""
    if path is not None:
        text = Path(path).read_text(encoding="utf-8").splitlines()
        value = text[0] if text else ""
    elif os.environ.get(PASSPHRASE_ENV):
        value = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        value = click.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    else:
        raise click.ClickException(f"no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV}")
    if not value:
        raise click.ClickException("the passphrase is empty")
    return value.encode("utf-8")


def _progress(flag: bool | None) -> Progress:
    from crashveil.server.ops.progress import LineProgress, NoProgress

    show = sys.stderr.isatty() if flag is None else flag
    return LineProgress(sys.stderr) if show else NoProgress()


_passphrase_option = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
                                  help=f"file whose first line is the passphrase (else ${PASSPHRASE_ENV}, else "
                                       "a prompt)")
_progress_option = click.option("--progress/--no-progress", "show_progress", default=None,
                                help="progress on stderr (default: when stderr is a terminal)")


@click.command("backup")
@click.argument("archive", type=click.Path(dir_okay=False))
@server_dir_option
@_passphrase_option
@_progress_option
def backup_command(archive: str, server_dir: str | None, passphrase_file: str | None,
                   show_progress: bool | None) -> None:
    """Write a sealed archive of the database and the server directory's keys and settings (while serving)."""
    from crashveil.server.ops.backup import make_backup
    from crashveil.server.ops.progress import stop_on_signals

    settings = load_settings(server_dir)
    secret = _passphrase(passphrase_file, confirm=True)
    progress = _progress(show_progress)
    with stop_on_signals() as stop:
        result = make_backup(settings, Path(archive), secret, progress=progress, stop=stop)
    manifest = result.manifest
    click.echo(f"backup: {result.path} ({result.size_bytes} bytes, {manifest.database}, schema "
               f"{manifest.schema_revision}, audit entry {manifest.audit_seq}, {len(manifest.files)} files)")


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True))
@click.option("--into", "into", required=True, type=click.Path(file_okay=False),
              help="server directory to restore into (must be empty unless --force)")
@click.option("--force", is_flag=True, help="move a non-empty target aside (DIR.before-restore-TIME) and, on "
                                             "PostgreSQL, replace the tables of a non-empty database")
@click.option("--database", "database_url", default=None,
              help="PostgreSQL database to restore into (default: the one in the archive's settings)")
@_passphrase_option
@_progress_option
@actor_option
def restore_command(archive: str, into: str, force: bool, database_url: str | None, passphrase_file: str | None,
                    show_progress: bool | None, actor: str | None) -> None:
    """Restore a backup into a directory; the audit trail records the restore and is re-anchored."""
    from crashveil.server.ops.progress import stop_on_signals
    from crashveil.server.ops.restore import restore_backup

    who = resolve_actor(actor)
    secret = _passphrase(passphrase_file, confirm=False)
    progress = _progress(show_progress)
    with stop_on_signals() as stop:
        result = restore_backup(Path(archive), Path(into), secret, actor=who, force=force,
                                database_url=database_url, progress=progress, stop=stop)
    if result.moved_aside is not None:
        click.echo(f"previous directory kept at {result.moved_aside} (it holds secrets: delete it when done)")
    click.echo(f"restored {result.directory} from the backup of {result.manifest.created_at}; audit entry "
               f"{result.restore_seq} (server.restore) re-anchors the checkpoint. Check: crashveil audit verify "
               f"--server-dir {result.directory}")


@click.command("reanchor-audit")
@click.option("--reason", required=True, help="why (e.g. 'database restored from the 2026-12-01 dump')")
@server_dir_option
@actor_option
def reanchor_command(reason: str, server_dir: str | None, actor: str | None) -> None:
    """Accept a database restored by hand: audit it and sign the checkpoint at the trail's new head."""
    from crashveil.server.cli.context import open_storage
    from crashveil.server.governance.audit import AuditTrail

    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        try:
            entry = trail.reanchor("audit.reanchor", actor=who, detail={"reason": reason})
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--reason") from None
    finally:
        storage.close()
    click.echo(f"audit entry {entry.seq} (audit.reanchor) re-anchors the checkpoint")
