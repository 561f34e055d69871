"""The ``crashveil`` command: one click application whose groups load when they run.

``crashveil --help`` lists every group from :data:`GROUPS` without importing any of them,
so it stays fast and works with a plain ``pip install crashveil``. The SDK-side groups
(``policy``, ``client``, ``check``) need click and the standard library only; the server
groups need ``pip install 'crashveil[server]'`` and say so when it is missing.

Exit codes: 0 ok; 1 a command failed (the gates: review needed, release regressed; a server
command's error); 2 usage error, or an SDK-side command's error (bad policy file, no data
dir), or no command at all (the help is printed). Output cut short by its reader (`| head`)
ends quietly with 1.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import click

from crashveil.errors import CrashveilError

__all__ = ["GROUPS", "GroupEntry", "cli", "main"]


@dataclass(frozen=True)
class GroupEntry:
    """One top-level command of ``crashveil``.

    ``target`` is ``"module:attribute"`` of its click command; ``help`` is the line
    ``crashveil --help`` shows (a test keeps it equal to the command's own short help);
    ``server`` commands need the server extra, run with a private umask (files 0600,
    directories 0700) and end with exit code 1 on a crashveil error (SDK-side ones: 2).
    """

    name: str
    target: str
    help: str
    server: bool


GROUPS: tuple[GroupEntry, ...] = (
    GroupEntry("policy", "crashveil.cli.policy:policy_group", "Read, render and compare policy files.", False),
    GroupEntry("client", "crashveil.cli.client:client_group",
               "What this device queued and sent (no report content).", False),
    GroupEntry("check", "crashveil.cli.check:check_command",
               "Privacy gate: validate the policy; material changes need a review record.", False),
    GroupEntry("server", "crashveil.server.cli.server:server_group", "Create, migrate and run a server directory.",
               True),
    GroupEntry("project", "crashveil.server.cli.project:project_group",
               "Manage projects: each has its own keys and policy.", True),
    GroupEntry("keys", "crashveil.server.cli.keys:keys_group", "Rotate and list keys.", True),
    GroupEntry("user", "crashveil.server.cli.governance:user_group",
               "Dashboard users and their roles per project.", True),
    GroupEntry("token", "crashveil.server.cli.governance:token_group",
               "API tokens (shown once, stored as SHA-256).", True),
    GroupEntry("retention", "crashveil.server.cli.governance:retention_group",
               "Delete expired data and destroy expired day keys.", True),
    GroupEntry("audit", "crashveil.server.cli.governance:audit_group",
               "The hash-chained audit trail and the audit report.", True),
    GroupEntry("release", "crashveil.server.cli.release:release_group",
               "Gate a release on the server's redaction-regression counters.", True),
    GroupEntry("destination", "crashveil.server.alerts.destinations.commands:destination_group",
               "Alert destinations: webhooks, chat, issue trackers, e-mail.", True),
    GroupEntry("erasure", "crashveil.server.cli.governance:erasure_group",
               "Erase an installation's reports by its installation code; verify a confirmation.", True),
    GroupEntry("alert", "crashveil.server.alerts.cli:alert_group", "Alert rules per project and their delivery log.",
               True),
    GroupEntry("groups", "crashveil.cli.api_commands:groups_group",
               "Crash groups through a server's API (token in $CRASHVEIL_API_TOKEN).", False),
    GroupEntry("releases", "crashveil.cli.api_commands:releases_group",
               "Release health through a server's API (token in $CRASHVEIL_API_TOKEN).", False),
    GroupEntry("api", "crashveil.cli.api_commands:api_group",
               "Projects, audit log, daily counts and tokens through a server's API.", False),
    GroupEntry("incident", "crashveil.server.governance.lifecycle.commands:incident_group",
               "Privacy incidents: stop a leaking field, purge it, close with a postmortem.", True),
)
_BY_NAME = {entry.name: entry for entry in GROUPS}


class ServerExtraMissing(click.ClickException):
    """A server command was run without ``crashveil[server]`` installed."""

    exit_code = 2

    def __init__(self, name: str, cause: ImportError) -> None:
        super().__init__(f"'{name}' needs the server extra: pip install 'crashveil[server]' ({cause})")

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"crashveil: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    """The root group: lists :data:`GROUPS` in their order and imports one only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [entry.name for entry in GROUPS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _BY_NAME.get(cmd_name)
        return None if entry is None else load(entry)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(entry.name, entry.help) for entry in GROUPS])


def load(entry: GroupEntry) -> click.Command:
    """Import ``entry``'s command (server commands fail with the extra to install)."""
    module_name, _, attribute = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if not entry.server:
            raise
        raise ServerExtraMissing(entry.name, exc) from exc
    command = getattr(module, attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{entry.target} is not a click command")
    return command


@click.group("crashveil", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Privacy-first crash reporting: the app's policy and history, and the server's administration."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Output piped into a reader that stops early (``crashveil audit log | head -n1``) ends
    quietly with exit code 1, as click's own handler does: no ``BrokenPipeError`` traceback,
    whichever command (or the help) was writing, and none at exit for buffered output.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 1
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is not a file descriptor (a test runner's buffer): nothing to flush at exit


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    entry = _BY_NAME.get(args[0]) if args else None
    if entry is None or not entry.server:
        return _run(args, error_exit_code=2)
    try:
        from crashveil.server.settings import PRIVATE_UMASK
    except ImportError as exc:
        ServerExtraMissing(entry.name, exc).show()
        return ServerExtraMissing.exit_code
    # Whatever a command writes into a server directory (database, keys, certificates,
    # policies, settings) is for the server's user only: files 0600, directories 0700.
    old_umask = os.umask(PRIVATE_UMASK)
    try:
        return _run(args, error_exit_code=1)
    finally:
        os.umask(old_umask)


def _run(args: list[str], *, error_exit_code: int) -> int:
    try:
        result = cli.main(args=args, prog_name="crashveil", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return exc.exit_code
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
        return error_exit_code
    return int(result or 0)
