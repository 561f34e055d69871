"""``crashveil client show`` and ``crashveil client clear``: the user's view of the history.

These run outside the app, so they find the app's data dir the way the SDK does
(``--app-name``, ``--data-dir`` or the ``CRASHVEIL_*`` variables, through ``Options``).
Standard library only: they work with a plain ``pip install crashveil``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``client`` command group to the ``crashveil`` command."""
    client = commands.add_parser("client", help="what this device queued and sent (no report content)")
    client_commands = client.add_subparsers(title="client commands", metavar="COMMAND")

    show = client_commands.add_parser("show", help="list queued and sent reports: time, crash type, level, receipt")
    _where(show)
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(handler=_show)

    clear = client_commands.add_parser("clear", help="empty the history (reports already sent stay sent)")
    _where(clear)
    clear.set_defaults(handler=_clear)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-name", help="the app's name (its data dir is found from it)")
    parser.add_argument("--data-dir", help="the app's crashveil data dir, if not the default")


def _history(ns: argparse.Namespace) -> Any:
    from crashveil.sdk.history import History
    from crashveil.sdk.options import default_data_dir

    if ns.data_dir:
        data_dir = Path(ns.data_dir)
    else:
        import os

        app_name = ns.app_name or os.environ.get("CRASHVEIL_APP_NAME")
        env_dir = os.environ.get("CRASHVEIL_DATA_DIR")
        if env_dir and not ns.app_name:
            data_dir = Path(env_dir)
        elif app_name:
            data_dir = default_data_dir(app_name)
        else:
            from crashveil.errors import ConfigError

            raise ConfigError("--app-name", "is needed to find the data dir", "--app-name NAME or --data-dir DIR")
    return History(data_dir)


def _show(ns: argparse.Namespace) -> int:
    entries = _history(ns).entries()
    if ns.format == "json":
        import json

        print(json.dumps([entry.to_dict() for entry in entries], indent=2, sort_keys=True))
        return 0
    if not entries:
        print("No crash reports were queued or sent from this device.")
        return 0
    rows = [("time (UTC)", "kind", "crash type", "level", "state", "receipt")]
    for entry in entries:
        rows.append((time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.time)), entry.kind,
                     entry.crash_type or "-", entry.level, entry.state, entry.receipt or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
    kept = [entry for entry in entries if entry.content]
    if kept:
        print(f"\n{len(kept)} report(s) kept with their content (the app enabled keep_history_content).")
    sys.stdout.flush()
    return 0


def _clear(ns: argparse.Namespace) -> int:
    _history(ns).clear()
    print("History cleared.")
    return 0
