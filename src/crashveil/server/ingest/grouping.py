"""Grouping: which crash group a report belongs to, and how a group's status moves.

The fingerprint is recomputed here from the stack the server stores
(:func:`crashveil.policy.compute_fingerprint`); the client's value is never trusted, since
a client could otherwise file crashes into any group. The fingerprint carries the version
of the algorithm that made it (``v1:...``), as bugsink stores its grouping mechanism, so
the algorithm can improve without silently splitting existing groups.

Status
    ``open`` -> ``resolved`` (optionally "in release R") -> ``regressed`` when the crash
    comes back in a release after R (or at all, when resolved without a release). Reports
    from R or older releases of a group resolved in R are expected stragglers and change
    nothing. ``ignored`` groups stay ignored. Releases compare as PEP 440 versions when
    both parse, else as tuples of their numbers, else not at all (no regression is claimed
    on releases we cannot order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crashveil.policy import compute_fingerprint
from crashveil.policy.fingerprint import grouping_title
from crashveil.wire import Report

__all__ = ["OPEN", "RESOLVED", "REGRESSED", "IGNORED", "STATUSES", "report_fingerprint",
           "release_is_after", "Transition", "on_new_report"]

OPEN = "open"
RESOLVED = "resolved"
REGRESSED = "regressed"
IGNORED = "ignored"
STATUSES = (OPEN, RESOLVED, REGRESSED, IGNORED)


def report_fingerprint(report: Report) -> str:
    """The server's fingerprint of ``report``, from its crash type and stack (and the app's
    own ``grouping`` when it sent one).

    Memoised by the identity of the frames tuple: the ingest path's stack memo hands the
    same (redacted) tuple to every report with that stack, so a repeated crash costs a
    dict lookup instead of ~30 path conversions and a SHA-256. The memo holds the tuple it
    was computed from, so an id is never reused while its entry lives.
    """
    frames = report.stack.frames if report.stack is not None else ()
    title = grouping_title(report.crash_type, report.message_template)
    if report.grouping is not None:  # an app's own grouping rule (Sentry SDKs): not memoised
        return compute_fingerprint(title, frames, report.grouping)
    key = (id(frames), title)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is frames:
        return hit[1]
    fingerprint = compute_fingerprint(title, frames)
    if len(_MEMO) >= _MEMO_ENTRIES:
        _MEMO.clear()
    _MEMO[key] = (frames, fingerprint)
    return fingerprint


_MEMO: dict[tuple[int, str], tuple[tuple[object, ...], str]] = {}
_MEMO_ENTRIES = 16_384


_NUMBERS = re.compile(r"\d+")


def _version_key(release: str) -> tuple[int, object] | None:
    """A sortable key: (0, Version) for PEP 440 releases, (1, numbers) otherwise."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # pragma: no cover - packaging ships with pip and setuptools
        Version = None  # type: ignore[assignment,misc]
    if Version is not None:
        try:
            return (0, Version(release))
        except InvalidVersion:
            pass
    numbers = tuple(int(n) for n in _NUMBERS.findall(release))
    return (1, numbers) if numbers else None


def release_is_after(release: str | None, than: str | None) -> bool:
    """Whether ``release`` is a later release than ``than``.

    ``than=None`` (resolved without a release) makes every report "after". An unknown
    ``release``, or releases that cannot be ordered, are never after.
    """
    if than is None:
        return True
    if release is None or release == than:
        return False
    a, b = _version_key(release), _version_key(than)
    if a is None or b is None:
        return False
    if a[0] != b[0]:
        # One is PEP 440, the other is not: compare their numbers.
        a = (1, tuple(int(n) for n in _NUMBERS.findall(release)))
        b = (1, tuple(int(n) for n in _NUMBERS.findall(than)))
    return bool(a[1] > b[1])  # type: ignore[operator]


@dataclass(frozen=True)
class Transition:
    """The status a group has after a new report, and whether that was a regression."""

    status: str
    regressed: bool


def on_new_report(status: str, resolved_in: str | None, release: str | None) -> Transition:
    """Where a group in ``status`` goes when a report of ``release`` arrives."""
    if status == RESOLVED and release_is_after(release, resolved_in):
        return Transition(REGRESSED, True)
    return Transition(status, False)
