"""``crashveil project add|list|set-policy|connection-string|connection`` and ``project sentry-key``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, policy_option, server_dir_option
from crashveil.server.cli.audit import record as audit, resolve_actor
from crashveil.server.cli.context import connection_string, load_settings, open_storage
from crashveil.server.cli.sentry_keys import sentry_key_group
from crashveil.server.cli.tables import print_table, table

if TYPE_CHECKING:
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.server.storage.store import Storage

__all__ = ["add_project", "project_group"]


@click.group("project")
def project_group() -> None:
    """Manage projects: each has its own keys and policy."""


def add_project(settings: Settings, storage: Storage, project_id: str, policy_text: str | None, *,
                public_summary: bool, actor: str) -> ProjectRecord:
    """Create a project from ``policy_text`` (default: the shipped policy), write its policy file, audit it."""
    from crashveil.policy import default_policy_path
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
@policy_option("policy file (default: a copy of the shipped default policy)", must_exist=True)
@click.option("--public-summary", is_flag=True, help="publish the anonymized public summary")
@server_dir_option
@actor_option
def project_add(project_id: str, policy_file: str | None, public_summary: bool, server_dir: str | None,
                actor: str | None) -> None:
    """Create project PROJECT_ID and print its connection string."""
    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        text = Path(policy_file).read_text(encoding="utf-8") if policy_file else None
        record = add_project(settings, storage, project_id, text, public_summary=public_summary, actor=who)
        click.echo(connection_string(settings, record))
    finally:
        storage.close()


@project_group.command("list")
@server_dir_option
def project_list(server_dir: str | None) -> None:
    """List projects with their policy version and digest."""
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        rows = storage.list_projects()
    finally:
        storage.close()
    shown = table("id", "policy", "digest", "groups", "public summary", "created")
    for row in rows:
        shown.add_row(row.id, row.policy_version, row.policy_digest[:19], str(row.groups),
                      "yes" if row.public_summary else "no", f"{row.created_at:%Y-%m-%d}")
    print_table(shown)


@project_group.command("set-policy")
@click.argument("project_id")
@click.argument("policy_file", type=click.Path(dir_okay=False, exists=True))
@server_dir_option
@actor_option
def project_set_policy(project_id: str, policy_file: str, server_dir: str | None, actor: str | None) -> None:
    """Make POLICY_FILE the project's policy (reports built under older ones stay valid)."""
    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)
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
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        record = storage.project(project_id)
        if record is None:
            raise click.ClickException(f"no project {project_id!r}")
        click.echo(connection_string(settings, record))
    finally:
        storage.close()


@project_group.command("connection")
@click.argument("project_id")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="write it to FILE for crashveil.init(connection_file=FILE) (or $CRASHVEIL_CONNECTION_FILE)")
@server_dir_option
def project_connection(project_id: str, out_file: str | None, server_dir: str | None) -> None:
    """The project's connection string, printed or written to a file the SDK reads (short to configure)."""
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        record = storage.project(project_id)
        if record is None:
            raise click.ClickException(f"no project {project_id!r}")
        text = connection_string(settings, record)
    finally:
        storage.close()
    if out_file is None:
        click.echo(text)
        return
    target = Path(out_file)
    staged = target.with_name(f".{target.name}.tmp")
    staged.write_text(f"# crashveil connection of project {project_id} (server {settings.connect_host}:"
                      f"{settings.port}); not secret: it ships with the app.\n"
                      f"# Use: crashveil.init(connection_file=...) or CRASHVEIL_CONNECTION_FILE=...\n{text}\n",
                      encoding="utf-8")
    staged.replace(target)
    click.echo(f"wrote {target}: crashveil.init(connection_file={str(target)!r})", err=True)


project_group.add_command(sentry_key_group)
