"""The ``crashveil`` command as one click application: help, groups, shared options."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from crashveil.cli.app import GROUPS, cli, load, main
from crashveil.cli.options import SHARED_FLAGS

SRC = Path(__file__).resolve().parents[2] / "src" / "crashveil"
EVERY_GROUP = ["policy", "client", "check", "server", "project", "keys", "user", "token", "retention", "audit",
               "release", "destination", "erasure", "alert", "groups", "releases", "api", "incident"]


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command of the tree under ``command``, with its path of names."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, path + (name,)
            yield from _commands(sub, path + (name,))


def test_help_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    """``crashveil --help`` names every group, SDK side and server side, and exits 0."""
    code = main(["--help"])
    section = capsys.readouterr().out.split("Commands:")[1].splitlines()
    listed = [line.split()[0] for line in section if line.startswith("  ") and not line.startswith("   ")]
    assert (0, EVERY_GROUP) == (code, listed)


def test_no_arguments_prints_the_help_and_exits_2() -> None:
    """``crashveil`` alone prints the same help (stdout) and exits 2, a usage error as click has it."""
    alone = subprocess.run([sys.executable, "-m", "crashveil"], capture_output=True, text=True, timeout=60)
    helped = subprocess.run([sys.executable, "-m", "crashveil", "--help"], capture_output=True, text=True, timeout=60)
    assert (2, 0, helped.stdout) == (alone.returncode, helped.returncode, alone.stdout)


def test_help_imports_no_group() -> None:
    """Listing the groups imports none of them (nor the server): ``crashveil --help`` stays fast."""
    code = ("import sys\nfrom crashveil.cli import main\nmain(['--help'])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('crashveil.server', 'crashveil.cli.', "
            "'crashveil.gate')) and m not in ('crashveil.cli.app', 'crashveil.cli.options')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert "[]" == out.strip().splitlines()[-1]


def test_listed_help_is_each_groups_own() -> None:
    """The line ``--help`` shows for a group (kept in ``GROUPS``) is the group's own short help."""
    assert [] == [(entry.name, entry.help) for entry in GROUPS
                  if load(entry).get_short_help_str(limit=200) != entry.help]


def test_sdk_groups_import_no_server_module() -> None:
    """``policy``, ``client`` and ``check`` load without the server package."""
    code = ("import sys\nfrom crashveil.cli.app import GROUPS, load\n"
            "[load(e) for e in GROUPS if not e.server]\n"
            "print(sorted(m for m in sys.modules if m.startswith('crashveil.server')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert "[]" == out.strip().splitlines()[-1]


def test_shared_options_are_declared_only_in_the_options_module() -> None:
    """No module but ``crashveil/cli/options.py`` declares ``--server-dir``, ``--actor``,
    ``--project``, ``--policy`` or ``--format`` (``click.option("--flag", ...)``)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "cli" / "options.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "option"
                    and any(isinstance(a, ast.Constant) and a.value in SHARED_FLAGS for a in node.args)):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert [] == found


def test_each_shared_option_is_the_same_everywhere() -> None:
    """In the whole tree, each shared flag has one destination (and ``--server-dir`` and
    ``--actor`` one help text): they come from the one definition."""
    seen: dict[str, set[tuple[str | None, str | None]]] = {flag: set() for flag in SHARED_FLAGS}
    count = 0
    for _path, command in _commands(cli):
        for param in command.params:
            for flag in set(param.opts) & set(SHARED_FLAGS):
                count += 1
                helped = param.help if flag in ("--server-dir", "--actor") and isinstance(param, click.Option) else None
                seen[flag].add((param.name if flag != "--project" else None, helped))
    shapes = {flag: len(values) for flag, values in seen.items()}
    assert (True, dict.fromkeys(SHARED_FLAGS, 1)) == (count > 40, shapes)


def test_every_command_has_help() -> None:
    """Each command and group of the tree explains itself in ``--help``."""
    assert [] == [" ".join(path) for path, command in _commands(cli) if path and not command.get_short_help_str()]
