"""The options several ``crashveil`` commands share, each flag defined here once.

``--server-dir``, ``--actor``, ``--project``, ``--policy`` and ``--format`` appear on many
commands; defining them here keeps their names, destinations and wording the same
everywhere (a test checks no other module declares them). Click only: the SDK-side commands
use these too, so nothing here imports the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

__all__ = [
    "SERVER_DIR_HELP",
    "SHARED_FLAGS",
    "actor_option",
    "format_option",
    "policy_option",
    "project_option",
    "server_dir_option",
]

_F = TypeVar("_F", bound=Callable[..., object])

#: The flags only this module may declare.
SHARED_FLAGS = ("--server-dir", "--actor", "--project", "--policy", "--format")

SERVER_DIR_HELP = "server directory (default: $CRASHVEIL_SERVER_DIR, else the current directory)"


def server_dir_option(function: _F) -> _F:
    """``--server-dir DIR`` (``server_dir``): the server directory a command acts on."""
    return click.option("--server-dir", "server_dir", type=click.Path(file_okay=False), default=None,
                        help=SERVER_DIR_HELP)(function)


def actor_option(function: _F) -> _F:
    """``--actor NAME`` (``actor``): who the audit trail names for this change."""
    return click.option("--actor", default=None, metavar="NAME",
                        help="who is acting, for the audit trail (default: os:<your user name>)")(function)


def format_option(*choices: str) -> Callable[[_F], _F]:
    """``--format`` (``fmt``) among ``choices``; the first is the default."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True)


def policy_option(help: str, *, default: str | None = None, must_exist: bool = False) -> Callable[[_F], _F]:
    """``--policy FILE`` (``policy_file``). SDK-side commands leave the file check to the policy
    loader (``must_exist=False``) so a missing file is reported the way the loader reports it."""
    kind = click.Path(dir_okay=False, exists=True) if must_exist else click.STRING
    return click.option("--policy", "policy_file", type=kind, default=default, help=help)


def project_option(help: str, *, dest: str = "project", required: bool = False, multiple: bool = False,
                   default: str | None = None) -> Callable[[_F], _F]:
    """``--project ID`` (``dest``), optionally required or repeatable."""
    return click.option("--project", dest, required=required, multiple=multiple, default=default,
                        show_default=default is not None, help=help)
