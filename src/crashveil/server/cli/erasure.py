"""Command group ``erasure``: erase an installation's reports by its installation code, and check
a signed erasure confirmation.

``crashveil erasure by-code CODE --project P --reason TEXT`` is for the person who uninstalled
the app, or who writes to support: it erases through the same path as the SDK's ``revoke()``
(``governance/erasure_by_code.py``) and prints the signed confirmation (or writes it with
``--out FILE``) to hand to the person. ``CODE`` may be ``-``: read from stdin, so it stays out
of the shell's history. The code is never stored, logged or printed back.

``crashveil erasure verify FILE`` checks a confirmation against the project's signing keys
(``--server-dir``), or against a key given with ``--public-key`` (anyone can, without the server).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from crashveil.cli.options import actor_option, project_option, server_dir_option
from crashveil.server.cli.audit import resolve_actor
from crashveil.server.cli.context import opened, utc_now

__all__ = ["erasure_group"]


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
    from crashveil.server.governance.erasure_by_code import erase_by_code

    if code == "-":
        code = sys.stdin.readline()
    who = resolve_actor(actor)
    with opened(server_dir) as (settings, storage):
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        result = erase_by_code(storage, trail, project, code, reason=reason, actor=who, now=utc_now())
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
    from crashveil.server.governance.erasure_confirmation import parse_document, verify_document
    from crashveil.wire.install_code import code_digest, parse_code

    document = parse_document(Path(file).read_bytes())
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
    from crashveil.server.governance.erasure_confirmation import claimed_project

    project_id = claimed_project(document)
    with opened(server_dir) as (_settings, storage):
        project = storage.project(project_id, fresh=True)
    if project is None:
        raise ConfirmationInvalid(f"this server has no project {project_id!r}")
    return [key.public_key_string() for key in project.signing_keys]
