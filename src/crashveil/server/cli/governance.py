"""Command groups ``user``, ``token``, ``audit``, ``retention`` and ``erasure`` (click).

Every command acts on a server directory (``--server-dir``, default ``$CRASHVEIL_SERVER_DIR``
or the current directory) and every change is recorded in the audit trail with its actor: ``--actor NAME``, else
``os:<the operating-system user>`` (whoever can read the server directory is an operator;
the name says which).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import actor_option, format_option, project_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import opened, utc_now
from crashveil.server.governance.token_scopes import SCOPES
from crashveil.textsafe import visible

if TYPE_CHECKING:
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.storage.store import Storage

__all__ = ["user_group", "token_group", "audit_group", "retention_group", "erasure_group"]


@contextmanager
def _open(server_dir: str | None) -> Iterator[tuple[Storage, AuditTrail, AccessStore]]:
    """(storage, audit trail, access store) of the server directory."""
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    with opened(server_dir) as (settings, storage):
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        yield storage, trail, AccessStore(storage.engine, trail)


def _password(prompt: bool) -> str:
    value = os.environ.get("CRASHVEIL_NEW_PASSWORD")
    if value:
        return value
    if not prompt:
        raise click.ClickException("no password: set CRASHVEIL_NEW_PASSWORD or run interactively")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


# --- user ----------------------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Dashboard users and their roles per project."""


@user_group.command("add")
@click.argument("name")
@project_option("grant --role on this project (or * for all)")
@click.option("--role", default=None, type=click.Choice(["viewer", "developer", "privacy-officer", "admin"]))
@server_dir_option
@actor_option
def user_add(name: str, project: str | None, role: str | None, server_dir: str | None, actor: str | None) -> None:
    """Create a user (password from a prompt or $CRASHVEIL_NEW_PASSWORD)."""
    who = resolve_actor(actor)
    password = _password(sys.stdin.isatty())
    with _open(server_dir) as (_, _trail, access):
        access.add_user(name, password, actor=who)
        if project and role:
            access.grant(name, project, role, actor=who)
    click.echo(f"user {name} created")


@user_group.command("list")
@server_dir_option
def user_list(server_dir: str | None) -> None:
    """Users, whether disabled, and their roles per project."""
    with _open(server_dir) as (_, _trail, access):
        for user in access.list_users():
            grants = "; ".join(f"{p}: {','.join(sorted(r))}" for p, r in sorted(user.grants.items())) or "-"
            cells = (user.name, "disabled" if user.disabled else "active", grants)
            click.echo("\t".join(visible(c) for c in cells))


@user_group.command("grant")
@click.argument("name")
@click.argument("project")
@click.argument("role", type=click.Choice(["viewer", "developer", "privacy-officer", "admin"]))
@server_dir_option
@actor_option
def user_grant(name: str, project: str, role: str, server_dir: str | None, actor: str | None) -> None:
    """Grant ROLE on PROJECT (``*``: every project) to user NAME."""
    who = resolve_actor(actor)
    with _open(server_dir) as (_, _trail, access):
        changed = access.grant(name, project, role, actor=who)
    click.echo(f"{name}: {role} on {project}" + ("" if changed else " (already held)"))


@user_group.command("revoke")
@click.argument("name")
@click.argument("project")
@click.argument("role", type=click.Choice(["viewer", "developer", "privacy-officer", "admin"]))
@server_dir_option
@actor_option
def user_revoke(name: str, project: str, role: str, server_dir: str | None, actor: str | None) -> None:
    """Revoke ROLE on PROJECT from user NAME (effective on their next request)."""
    who = resolve_actor(actor)
    with _open(server_dir) as (_, _trail, access):
        changed = access.revoke(name, project, role, actor=who)
    click.echo(f"{name}: {role} on {project} revoked" + ("" if changed else " (was not held)"))


@user_group.command("disable")
@click.argument("name")
@server_dir_option
@actor_option
def user_disable(name: str, server_dir: str | None, actor: str | None) -> None:
    """Disable a user: sessions and tokens end at once."""
    who = resolve_actor(actor)
    with _open(server_dir) as (_, _trail, access):
        access.disable_user(name, actor=who)
    click.echo(f"{name} disabled")


# --- token ---------------------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """API tokens (shown once, stored as SHA-256)."""


@token_group.command("create")
@click.argument("user")
@click.option("--name", "token_name", required=True, help="what the token is for")
@project_option("project (repeatable)", dest="projects", multiple=True, required=True)
@click.option("--role", "roles", multiple=True, required=True, help="role (repeatable; must be held by the user)")
@click.option("--expires-days", default=90, show_default=True, type=int, help="0: never")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="API operations it may call (repeatable; none: it can only list its projects)")
@server_dir_option
@actor_option
def token_create(user: str, token_name: str, projects: tuple[str, ...], roles: tuple[str, ...], expires_days: int,
                 scopes: tuple[str, ...], server_dir: str | None, actor: str | None) -> None:
    """Create a token for USER; it is printed once and cannot be shown again."""
    who = resolve_actor(actor)
    with _open(server_dir) as (_, _trail, access):
        token_id, token = access.create_token(user, token_name, projects=projects, roles=roles, actor=who,
                                              expires_days=expires_days or None, scopes=scopes)
    click.echo(f"token id: {token_id}", err=True)
    click.echo(token)


@token_group.command("revoke")
@click.argument("token_id")
@server_dir_option
@actor_option
def token_revoke(token_id: str, server_dir: str | None, actor: str | None) -> None:
    """Revoke a token by its id."""
    who = resolve_actor(actor)
    with _open(server_dir) as (_, _trail, access):
        if not access.revoke_token(token_id, actor=who):
            raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")


@token_group.command("list")
@server_dir_option
def token_list(server_dir: str | None) -> None:
    """Tokens (ids, users, scopes; never the secrets)."""
    with _open(server_dir) as (_, _trail, access):
        for t in access.list_tokens():
            state = "revoked" if t.revoked else "active"
            used = t.last_used_at.strftime("%Y-%m-%dT%H:%MZ") if t.last_used_at else "never used"
            cells = (t.token_id, t.user, t.name, ",".join(t.projects), ",".join(t.roles), ",".join(t.scopes) or "-",
                     state, used, f"{t.use_count} uses")
            click.echo("\t".join(visible(c) for c in cells))


# --- audit ---------------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail and the audit report."""


@audit_group.command("verify")
@click.option("--public-key", default=None, help="pin the expected audit key (ed25519:...)")
@server_dir_option
def audit_verify(public_key: str | None, server_dir: str | None) -> None:
    """Check every entry and the signed checkpoint; exit 1 at the first problem."""
    from crashveil.server.governance.audit import REANCHOR_ACTIONS

    with _open(server_dir) as (_, trail, _access):
        result = trail.verify(public_key=public_key)
        anchors = trail.entries(actions=REANCHOR_ACTIONS) if result.ok else []
    if not result.ok:
        raise click.ClickException(f"audit trail NOT intact: {result.problem}"
                                   + (f" (first bad entry {result.first_bad})" if result.first_bad else ""))
    click.echo(f"audit trail intact: {result.count} entries, head {result.head_seq} {result.head_hash}, "
               f"checkpoint {result.checkpoint_seq}")
    for entry in anchors[-3:]:  # the trail was re-anchored there: a restore, or a restored database accepted
        detail = entry.details
        source = (f"backup of {detail.get('backup_created_at')}" if entry.action == "server.restore"
                  else f"reason: {detail.get('reason')}")
        click.echo(f"re-anchored at entry {entry.seq}: {entry.action} at {entry.at} by {entry.actor} ({source}; "
                   f"replaced checkpoint {detail.get('replaced_checkpoint_seq')})")


@audit_group.command("log")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="newest entries shown")
@click.option("--action", default=None, help="only entries of this action (e.g. report.read)")
@project_option("only entries of this project", dest="project_id")
@server_dir_option
def audit_log(limit: int, action: str | None, project_id: str | None, server_dir: str | None) -> None:
    """The newest audit entries, oldest first; users and tokens shown by their user's name."""
    import sqlalchemy as sa

    from crashveil.server.db.engine import read_tx
    from crashveil.server.db.governance_tables import audit_entries
    from crashveil.server.governance.in_words import actor_names

    query = sa.select(audit_entries).order_by(audit_entries.c.seq.desc()).limit(limit)
    if action:
        query = query.where(audit_entries.c.action == action)
    if project_id:
        query = query.where(audit_entries.c.project_id == project_id)
    with _open(server_dir) as (storage, _trail, _access):
        with read_tx(storage.engine) as conn:
            entries = list(conn.execute(query))[::-1]
        names = actor_names(storage.engine, [e.actor for e in entries] + [e.subject for e in entries if e.subject])
    for e in entries:
        cells = (str(e.seq), e.at, names.get(e.actor, e.actor), e.action, e.project_id or "-",
                 names.get(e.subject, e.subject) if e.subject else "-")
        click.echo("\t".join(visible(c) for c in cells))


@audit_group.command("report")
@format_option("md", "html", "json")
@click.option("--days", default=30, show_default=True, type=int, help="period: the last DAYS days")
@server_dir_option
def audit_report(fmt: str, days: int, server_dir: str | None) -> None:
    """The report a privacy officer gives an auditor."""
    from crashveil.server.governance.audit_report import build_audit_report, render_audit_report

    until = datetime.now(UTC)
    with _open(server_dir) as (storage, trail, access):
        data = build_audit_report(storage, trail, access, since=until - timedelta(days=days), until=until)
    click.echo(render_audit_report(data, fmt), nl=False)


# --- retention -----------------------------------------------------------------------------------


@click.group("retention")
def retention_group() -> None:
    """Delete expired data and destroy expired day keys."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="show what would go, change nothing")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="progress on stderr (default: when stderr is a terminal)")
@server_dir_option
@actor_option
def retention_run(dry_run: bool, show_progress: bool | None, server_dir: str | None, actor: str | None) -> None:
    """Apply every project's retention now."""
    from crashveil.errors import Interrupted
    from crashveil.server.governance.retention import run_retention
    from crashveil.server.ops.progress import LineProgress, stop_on_signals

    who = resolve_actor(actor)
    progress = LineProgress(sys.stderr) if (sys.stderr.isatty() if show_progress is None else show_progress) else None

    def starting(project_id: str, index: int, total: int) -> None:
        if progress is not None:
            progress.stage(f"retention: project {index} of {total}")

    with _open(server_dir) as (storage, trail, _access), stop_on_signals() as stop:
        result = run_retention(storage, trail, dry_run=dry_run, actor=who, stop=lambda: stop.requested,
                               on_project=starting)
    if progress is not None:
        progress.finish()
    verb = "would" if dry_run else "did"
    for p in result.projects:
        click.echo(f"{p.project_id} (policy {p.policy_version}): {verb} delete {p.reports_deleted} reports, "
                   f"strip {len(p.stripped)} day(s) ({p.details_rewritten} details), destroy "
                   f"{len(p.keys_destroyed)} day keys, delete {p.rollups_deleted} roll-ups")
    if not dry_run:
        if result.kek_rotated:
            click.echo(f"KEK rotated to {result.kek_rotated}; earlier backups beyond use after "
                       f"{result.backups_beyond_use_after_days} day(s)")
        if result.wal_checkpoint:
            click.echo(f"SQLite WAL: {result.wal_checkpoint}")
    if result.interrupted:
        raise Interrupted(f"stopped by {stop.signal_name} after {len(result.projects)} project(s), each committed; "
                          "run again to finish")


@retention_group.command("status")
@server_dir_option
def retention_status(server_dir: str | None) -> None:
    """When retention last ran and what it deleted, in words."""
    from crashveil.server.governance.in_words import last_retention, retention_in_words

    with _open(server_dir) as (storage, _trail, _access):
        run = last_retention(storage.engine)
    click.echo(retention_in_words(run, datetime.now(UTC)))

# --- erasure by installation code (issue 21) ------------------------------------------------------------
#
# ``crashveil erasure by-code CODE --project P --reason TEXT`` is for the person who uninstalled the
# app, or who writes to support: it erases through the same path as the SDK's ``revoke()``
# (``governance/erasure_by_code/erase.py``) and prints the signed confirmation (or writes it with
# ``--out FILE``) to hand to the person. ``CODE`` may be ``-``: read from stdin, so it stays out of
# the shell's history. The code is never stored, logged or printed back. ``crashveil erasure verify
# FILE`` checks a confirmation against the project's signing keys (``--server-dir``), or against a
# key given with ``--public-key`` (anyone can, without the server).


@click.group("erasure")
def erasure_group() -> None:
    """Erase an installation's reports by its installation code; verify a confirmation."""


@erasure_group.command("by-code")
@click.argument("code")
@project_option("the project whose reports to erase", required=True)
@click.option("--reason", required=True, help="why (a ticket id, not the person's name); goes to the audit trail")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="write the signed confirmation to this file (default: print it)")
@server_dir_option
@actor_option
def erasure_by_code(code: str, project: str, reason: str, out_file: str | None, server_dir: str | None,
                    actor: str | None) -> None:
    """Erase every kept report of the installation whose code is CODE ('-': read it from stdin)."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.governance.erasure_by_code.erase import erase_by_code

    if code == "-":
        code = sys.stdin.readline()
    who = resolve_actor(actor)
    with opened(server_dir) as (settings, storage):
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        result = erase_by_code(storage, trail, project, code, reason=reason, actor=who, now=utc_now())
    import json
    from pathlib import Path

    text = json.dumps(result.document, indent=2, sort_keys=True) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    Path(out_file).write_text(text, encoding="utf-8")
    click.echo(f"Erased: request {result.request_id}. The signed confirmation for the person is in {out_file} "
               f"(check it with: crashveil erasure verify {out_file}).")


@erasure_group.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--public-key", default=None, metavar="ed25519:KEY",
              help="check against this key (the 'sign' part of the app's connection string) instead of the server's")
@click.option("--code", default=None, help="also check the confirmation is about this installation code")
@server_dir_option
def erasure_verify(file: str, public_key: str | None, code: str | None, server_dir: str | None) -> None:
    """Check a signed erasure confirmation; prints what it states."""
    from crashveil.errors import ConfirmationInvalid
    from crashveil.server.governance.erasure_by_code.confirmation import parse_document, verify_document
    from crashveil.wire.install_code import code_digest, parse_code

    with open(file, "rb") as handle:
        document = parse_document(handle.read(8192))
    if public_key is not None:
        keys = [public_key]
    else:
        keys = _project_keys(document, server_dir)
    stated = verify_document(document, keys)
    if code is not None and stated.installation != code_digest(parse_code(code)):
        raise ConfirmationInvalid("the confirmation is valid but about another installation code")
    about = "an installation code" if stated.installation else "an app's deletion request"
    click.echo(f"Valid: project {stated.project_id} processed erasure request {stated.request_id} "
               f"({about}) at {stated.processed_at}.")


def _project_keys(document: Mapping[str, object], server_dir: str | None) -> list[str]:
    """The signing keys (current and retired) of the project the document names, from the server."""
    from crashveil.errors import ConfirmationInvalid
    from crashveil.server.governance.erasure_by_code.confirmation import claimed_project

    project_id = claimed_project(document)
    with opened(server_dir) as (_settings, storage):
        project = storage.project(project_id, fresh=True)
    if project is None:
        raise ConfirmationInvalid(f"this server has no project {project_id!r}")
    return [key.public_key_string() for key in project.signing_keys]
