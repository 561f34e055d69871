"""``crashveil keys rotate|list``: the key-encryption key and the projects' keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, project_option, server_dir_option
from crashveil.server.cli.audit import record as audit, resolve_actor
from crashveil.server.cli.context import confirm_or_refuse, connection_string, load_settings, open_storage, utc_now
from crashveil.server.cli.tables import print_table, table

if TYPE_CHECKING:
    from crashveil.server.storage.store import Storage

__all__ = ["keys_group"]


@click.group("keys")
def keys_group() -> None:
    """Rotate and list keys."""


@keys_group.command("rotate")
@click.option("--kek/--no-kek", default=True, show_default=True, help="rotate the key-encryption key")
@click.option("--project-keys/--no-project-keys", default=True, show_default=True,
              help="rotate project HPKE and signing keys")
@project_option("only these projects (default: all)", dest="project_ids", multiple=True)
@click.option("--overlap-days", type=int, default=None,
              help="days old HPKE/signing keys keep working (default: settings key_overlap_days)")
@server_dir_option
@actor_option
@click.option("--yes", is_flag=True, help="rotate everything without asking (no --project, KEK and project keys)")
def keys_rotate(kek: bool, project_keys: bool, project_ids: Sequence[str], overlap_days: int | None,
                server_dir: str | None, actor: str | None, yes: bool) -> None:
    """Rotate keys. The KEK rotation rewraps data keys; no report is rewritten."""
    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        if kek and project_keys and not project_ids:
            _confirm_everything(storage, yes=yes)
        now = utc_now()
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
                assert record is not None  # its keys were just rotated
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


def _confirm_everything(storage: Storage, *, yes: bool) -> None:
    """Ask before rotating every key at once, naming what changes (``--yes`` skips it)."""
    ids = [p.id for p in storage.list_projects()]
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    confirm_or_refuse(f"rotate EVERY key: the KEK (all data keys are rewrapped) and the HPKE and signing keys of "
                      f"{len(ids)} project(s) ({shown or 'none'}); apps need the new connection strings before "
                      "the old keys' overlap ends. Go on?", yes=yes)


@keys_group.command("list")
@server_dir_option
def keys_list(server_dir: str | None) -> None:
    """Show every key with its age and state (no secret is printed)."""
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        now = utc_now()
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
    shown = table("key", "kind", "project", "algorithm", "age (days)", "state", "due")
    kek_period = min((p.kek_cryptoperiod_days for p in periods.values()), default=365)
    for info in sorted(keks, key=lambda k: k.created_at):
        age = (now - info.created_at).days
        state = "current" if info.current else f"retired {info.retired_at:%Y-%m-%d}" if info.retired_at else "old"
        shown.add_row(info.kek_id, "kek", "-", "aes-256-gcm", str(age), state,
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
        shown.add_row(key.key_id, key.kind, key.project_id, key.algorithm, str(age), state, due)
    print_table(shown)
    for kek_id, oldest, count, newest in summary:
        click.echo(f"data keys under {kek_id}: {count} (days {oldest} .. {newest})")
