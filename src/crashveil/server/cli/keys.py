"""``crashveil keys rotate|list``: the key-encryption key and the projects' keys."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, project_option, server_dir_option
from crashveil.errors import Interrupted
from crashveil.server.cli.audit import record as audit, resolve_actor
from crashveil.server.cli.context import confirm_or_refuse, connection_string, load_settings, open_storage, utc_now
from crashveil.server.cli.tables import print_table, table

if TYPE_CHECKING:
    from crashveil.server.ops.progress import Progress, StopFlag
    from crashveil.server.settings import Settings
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
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="keys rewrapped per committed transaction (a stop waits for at most one batch)")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="progress on stderr (default: when stderr is a terminal)")
@server_dir_option
@actor_option
@click.option("--yes", is_flag=True, help="rotate everything without asking (no --project, KEK and project keys)")
def keys_rotate(kek: bool, project_keys: bool, project_ids: Sequence[str], overlap_days: int | None,
                batch_size: int, show_progress: bool | None, server_dir: str | None, actor: str | None,
                yes: bool) -> None:
    """Rotate keys. The KEK rotation rewraps data keys in committed batches; no report is rewritten.

    SIGINT/SIGTERM stops between projects or batches: every key stays readable (the old KEK
    is kept until all are rewrapped) and running it again finishes the KEK rotation.

    \b
    Several hosts over one database share one KEK set (settings kek_provider and kek_file,
    kek_env or kek_command; a set holds the current KEK and earlier ones). Nothing is
    rewrapped until every live host reports holding the new KEK (heartbeat every
    kek_heartbeat_s; hosts silent for kek_host_live_s are not waited for); else this names
    the hosts that lag. With kek_provider = "file" this makes the new KEK here: copy the KEK
    file to the other hosts (they re-read it without a restart) and run it again. With "env"
    or "command", first give every host a set whose current is the new KEK (the old one
    beside it), run this, then drop the old KEK from the set."""
    from crashveil.server.ops.progress import LineProgress, NoProgress, stop_on_signals

    who = resolve_actor(actor)
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    wanted = sys.stderr.isatty() if show_progress is None else show_progress
    progress = LineProgress(sys.stderr) if wanted else NoProgress()
    try:
        if kek and project_keys and not project_ids:
            _confirm_everything(storage, yes=yes)
        now = utc_now()
        with stop_on_signals() as stop:
            gone = storage.destroy_expired_keys(now=now)
            for key_id in gone:
                audit(storage, "key.destroy", actor=who, subject=f"key:{key_id}"[:256],
                      detail={"kind": "project key", "reason": "expired"})
                click.echo(f"destroyed expired key {key_id}")
            if project_keys:
                ids = list(project_ids) or [p.id for p in storage.list_projects()]
                _rotate_project_keys(storage, settings, ids, who=who, now=now, overlap_days=overlap_days,
                                     progress=progress, stop=stop)
            if kek:
                _rotate_kek(storage, who=who, now=now, batch_size=batch_size, progress=progress, stop=stop)
    finally:
        progress.finish()
        storage.close()


def _rotate_project_keys(storage: Storage, settings: Settings, ids: Sequence[str], *, who: str, now: datetime,
                         overlap_days: int | None, progress: Progress, stop: StopFlag) -> None:
    """New HPKE and signing keys per project, each committed and audited; stops between projects."""
    overlap = timedelta(days=overlap_days) if overlap_days is not None else None
    for index, project_id in enumerate(ids):
        if stop.requested:
            rest = list(ids[index:])
            shown = " ".join(f"--project {p}" for p in rest[:10]) + (" ..." if len(rest) > 10 else "")
            raise Interrupted(f"stopped by {stop.signal_name} after the project keys of {index} of {len(ids)} "
                              f"project(s), each committed; the KEK was not rotated. To finish: "
                              f"crashveil keys rotate {shown}" + (" and crashveil keys rotate --no-project-keys"
                                                                 if rest else ""))
        progress.stage(f"project keys: project {index + 1} of {len(ids)}")
        created = storage.rotate_project_keys(project_id, now=now, overlap=overlap)
        audit(storage, "key.rotate", actor=who, project_id=project_id, subject=f"project:{project_id}",
              detail={"kind": "project keys", "new_keys": list(created),
                      "overlap_days": overlap_days if overlap_days is not None else settings.key_overlap_days})
        click.echo(f"project {project_id}: new keys {', '.join(created)}")
        record = storage.project(project_id, fresh=True)
        assert record is not None  # its keys were just rotated
        click.echo(f"project {project_id}: new connection string: {connection_string(settings, record)}")


def _rotate_kek(storage: Storage, *, who: str, now: datetime, batch_size: int, progress: Progress,
                stop: StopFlag) -> None:
    """Rewrap every wrapped key under a new KEK (or finish an interrupted rotation), audited
    as finished or interrupted."""
    shown_what, shown_done = "", 0

    def on_batch(what: str, done: int, total: int) -> None:
        nonlocal shown_what, shown_done
        if what != shown_what:
            shown_what = what
            progress.stage(f"KEK rotation: rewrapping {what}", total, "keys")
        progress.advance(done - shown_done if done else 0)
        shown_done = done

    result = storage.rotate_kek(now=now, batch_size=batch_size, stop=lambda: stop.requested, on_batch=on_batch)
    progress.finish()
    audit(storage, "key.rotate", actor=who, subject=f"kek:{result.new_kek_id}"[:256],
          detail={"kind": "kek", "rewrapped_data_keys": result.rewrapped_data_keys,
                  "rewrapped_project_keys": result.rewrapped_project_keys, "retired": list(result.retired),
                  "interrupted": result.interrupted, "resumed": result.resumed})
    verb = "finished the interrupted rotation" if result.resumed else "rewrapped"
    click.echo(f"KEK {result.new_kek_id}: {verb}: {result.rewrapped_data_keys} data keys and "
               f"{result.rewrapped_project_keys} other keys; retired {', '.join(result.retired) or 'none'}")
    if result.interrupted:
        raise Interrupted(f"stopped by {stop.signal_name} after rewrapping {result.rewrapped_data_keys} data key(s) "
                          "in committed batches; every key still opens (the old KEK is kept until all are "
                          "rewrapped). To finish: crashveil keys rotate --no-project-keys")
    for kek_id in result.destroyed_keks:
        audit(storage, "key.destroy", actor=who, subject=f"kek:{kek_id}"[:256],
              detail={"kind": "kek", "reason": "retired past kek_retired_keep_days"})
        click.echo(f"destroyed retired KEK {kek_id}")


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
