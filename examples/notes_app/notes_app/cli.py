"""The ``notes`` command: add, list, show, stats, share, sync; crash reports through crashveil.

Crash reporting is opt-in: ``notes consent crash`` (or ``diagnostic``, or ``off``) records
the user's choice; until then crashveil collects nothing. The policy that says what a report
may carry is ``crashveil.policy.toml`` beside this package; ``crashveil check`` guards it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import crashveil
from notes_app import __version__, store

#: The app's crash-report policy (shipped beside the package in this example).
POLICY = Path(__file__).resolve().parent.parent / "crashveil.policy.toml"


class ShareError(Exception):
    pass


class SyncError(Exception):
    pass


def start_crash_reporting() -> None:
    """Start crashveil; the connection string comes from ``CRASHVEIL_DSN`` in production."""
    crashveil.init(app_name="notes", release=f"notes@{__version__}", policy=str(POLICY),
                   app_root=str(Path(__file__).resolve().parent.parent))


def main(argv: Sequence[str] | None = None) -> int:
    start_crash_reporting()
    args = _parser().parse_args(argv)
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notes")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    add = commands.add_parser("add", help="write a note")
    add.add_argument("title")
    add.add_argument("body", nargs="?", default="")
    add.add_argument("--tag", action="append", default=[])
    add.set_defaults(handler=_add)
    listing = commands.add_parser("list", help="list the notes")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="print a note")
    show.add_argument("title")
    show.set_defaults(handler=_show)
    stats = commands.add_parser("stats", help="words per note")
    stats.add_argument("title")
    stats.set_defaults(handler=_stats)
    share = commands.add_parser("share", help="send a note to someone")
    share.add_argument("title")
    share.add_argument("--to", required=True, help="e-mail address")
    share.set_defaults(handler=_share)
    sync = commands.add_parser("sync", help="sync notes with the server in NOTES_SYNC_URL")
    sync.set_defaults(handler=_sync)
    consent = commands.add_parser("consent", help="choose what crash reports may carry")
    consent.add_argument("level", choices=("off", "crash", "diagnostic"))
    consent.set_defaults(handler=_consent)
    return parser


def _add(args: argparse.Namespace) -> int:
    path = store.save(store.Note(title=args.title, tags=tuple(args.tag), body=args.body))
    print(f"saved {path.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for title in store.titles():
        print(title)
    return 0


def _show(args: argparse.Namespace) -> int:
    note = store.load(args.title)
    print(f"# {note.title}\n\n{note.body}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    note = store.load(args.title)
    words = note.body.split()
    # The known bug: an empty note divides by zero.
    print(f"{len(words)} words, {sum(map(len, words)) / len(words):.1f} letters per word")
    return 0


def _share(args: argparse.Namespace) -> int:
    note = store.load(args.title)
    server = os.environ.get("NOTES_SHARE_SERVER")
    if not server:
        raise ShareError(f"cannot share {note.title!r} with {args.to}: no share server configured")
    raise ShareError(f"sharing through {server} is not implemented yet")


def _sync(args: argparse.Namespace) -> int:
    token = os.environ.get("NOTES_SYNC_TOKEN", "")
    url = os.environ.get("NOTES_SYNC_URL")
    if not url:
        raise SyncError(f"no NOTES_SYNC_URL to sync with token {token!r}")
    raise SyncError(f"sync with {url} is not implemented yet")


def _consent(args: argparse.Namespace) -> int:
    crashveil.grant(args.level)
    print(f"crash reports: {crashveil.level()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
