"""``crashveil client show`` and ``crashveil client clear``: the user's view of the history.

These run outside the app, so they find the app's data dir the way the SDK does
(``--app-name``, ``--data-dir`` or the ``CRASHVEIL_*`` variables, through ``Options``).
Click and the standard library only: they work with a plain ``pip install crashveil``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from crashveil.cli.options import format_option

if TYPE_CHECKING:
    from crashveil.sdk.consent.history import History

__all__ = ["client_group"]

_F = TypeVar("_F", bound=Callable[..., object])


def _where(function: _F) -> _F:
    """``--app-name`` and ``--data-dir``: where the app's history is."""
    function = click.option("--data-dir", help="the app's crashveil data dir, if not the default")(function)
    return click.option("--app-name", help="the app's name (its data dir is found from it)")(function)


@click.group("client")
def client_group() -> None:
    """What this device queued and sent (no report content)."""


def _history(app_name: str | None, data_dir: str | None) -> History:
    from crashveil.sdk.consent.history import History
    from crashveil.sdk.options import default_data_dir

    if data_dir:
        return History(Path(data_dir))
    import os

    app = app_name or os.environ.get("CRASHVEIL_APP_NAME")
    env_dir = os.environ.get("CRASHVEIL_DATA_DIR")
    if env_dir and not app_name:
        return History(Path(env_dir))
    if app:
        return History(default_data_dir(app))
    from crashveil.errors import ConfigError

    raise ConfigError("--app-name", "is needed to find the data dir", "--app-name NAME or --data-dir DIR")


def _installation_code(data_dir: Path) -> str | None:
    """The app's installation code, read from its install secret (None without one)."""
    from crashveil.sdk.consent.pseudonym import InstallSecret

    return InstallSecret(data_dir / "secrets" / "install.key").installation_code()


@client_group.command("show")
@_where
@format_option("text", "json")
def client_show(app_name: str | None, data_dir: str | None, fmt: str) -> int:
    """List queued and sent reports: time, crash type, level, receipt."""
    history = _history(app_name, data_dir)
    entries = history.entries()
    code = _installation_code(history.path.parent)
    if fmt == "json":
        import json

        print(json.dumps([entry.to_dict() for entry in entries], indent=2, sort_keys=True))
        return 0
    if code is not None:
        print(f"Installation code: {code} (give it to the app's privacy team to have this installation's "
              "reports deleted, even after uninstalling)\n")
    if not entries:
        print("No crash reports were queued or sent from this device.")
        return 0
    rows = [("time (UTC)", "kind", "crash type", "level", "state", "receipt")]
    for entry in entries:
        rows.append((time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.time)), entry.kind,
                     entry.crash_type or "-", entry.level, entry.state, entry.receipt or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    kept = [entry for entry in entries if entry.content]
    if kept:
        print(f"\n{len(kept)} report(s) kept with their content (the app enabled keep_history_content).")
    sys.stdout.flush()
    return 0


@client_group.command("clear")
@_where
def client_clear(app_name: str | None, data_dir: str | None) -> int:
    """Empty the history (reports already sent stay sent)."""
    _history(app_name, data_dir).clear()
    print("History cleared.")
    return 0
