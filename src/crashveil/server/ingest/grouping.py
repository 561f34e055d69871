"""Grouping: which crash group a report belongs to, and how a group's status moves.

The fingerprint is recomputed here from the stack the server stores
(:func:`crashveil.policy.compute_fingerprint`); the client's value is never trusted, since
a client could otherwise file crashes into any group. The fingerprint carries the version
of the algorithm that made it (``v1:...``), as bugsink stores its grouping mechanism, so
the algorithm can improve without silently splitting existing groups.

Status
    ``open`` -> ``resolved`` -> ``regressed`` when the crash comes back (Sentry's and
    bugsink's meaning):

    - resolved *in release R* (fixed in R): a report of R or a later release regresses it;
      reports of older releases are expected stragglers and change nothing;
    - resolved *in the next release* (``resolved_after`` = the project's newest release at
      the time, N): a report of a release after N regresses it (the fix was to ship in the
      first release after N); reports of N or older change nothing;
    - resolved *now* (no release): any report regresses it, except one that occurred in an
      hour before the resolve (a device's queue delivering an old crash late).

    ``ignored`` groups stay ignored until their condition ends: a time
    (``ignored_until``, also applied when the dashboard reads), a total report count
    (``ignored_until_count``), or a release after the newest one at the time
    (``ignored_until_release``); then the group is ``open`` again and ``ignore_ended``
    says which ended. An ignore without a condition lasts until someone reopens the group.

    Releases compare as PEP 440 versions when both parse, else as tuples of their numbers,
    else not at all: no regression is claimed, and no release-conditioned ignore ends, on
    releases we cannot order (the dashboard refuses "next release" conditions when the
    project has no orderable release).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crashveil.policy import compute_fingerprint
from crashveil.policy.fingerprint import grouping_title
from crashveil.wire import Report

__all__ = ["OPEN", "RESOLVED", "REGRESSED", "IGNORED", "STATUSES", "IGNORE_ENDS", "report_fingerprint",
           "release_is_after", "newest_release", "Transition", "GroupStatus", "on_new_report", "on_report"]

OPEN = "open"
RESOLVED = "resolved"
REGRESSED = "regressed"
IGNORED = "ignored"
STATUSES = (OPEN, RESOLVED, REGRESSED, IGNORED)
#: What can end an ignore (``crash_groups.ignore_ended``).
IGNORE_ENDS = ("date", "count", "release")


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


def newest_release(releases: Iterable[str]) -> str | None:
    """The latest of ``releases`` in this module's order (None when none can be ordered)."""
    newest: str | None = None
    for release in releases:
        if release and _version_key(release) is not None and (newest is None or release_is_after(release, newest)):
            newest = release
    return newest


@dataclass(frozen=True)
class Transition:
    """The status a group has after a new report, whether that was a regression, and which
    condition ended its ignore (None: it did not end)."""

    status: str
    regressed: bool
    ignore_ended: str | None = None


@dataclass(frozen=True)
class GroupStatus:
    """The status columns of a group that a new report is judged against."""

    status: str
    resolved_in: str | None = None
    resolved_after: str | None = None
    resolved_at: datetime | None = None
    ignored_until: datetime | None = None
    ignored_until_count: int | None = None
    ignored_until_release: str | None = None


def on_new_report(status: str, resolved_in: str | None, release: str | None) -> Transition:
    """Where a group in ``status`` (resolved in ``resolved_in``, or now) goes when a report of
    ``release`` arrives (no time or count conditions: :func:`on_report` has them)."""
    return on_report(GroupStatus(status, resolved_in), release, count=0, received_at=None, occurred_hour=None)


def on_report(group: GroupStatus, release: str | None, *, count: int, received_at: datetime | None,
              occurred_hour: str | None) -> Transition:
    """Where ``group`` goes when a report of ``release`` arrives at ``received_at``, making
    its total ``count``; ``occurred_hour`` (``2026-05-01T13:00Z``) is when the crash happened."""
    if group.status == IGNORED:
        ended = _ignore_ended(group, release, count, received_at)
        return Transition(OPEN if ended else IGNORED, False, ended)
    if group.status != RESOLVED:
        return Transition(group.status, False)
    if group.resolved_after is not None:
        regressed = release_is_after(release, group.resolved_after)
    elif group.resolved_in is not None:
        regressed = release == group.resolved_in or release_is_after(release, group.resolved_in)
    else:
        regressed = not _straggler(occurred_hour, group.resolved_at)
    return Transition(REGRESSED, True) if regressed else Transition(RESOLVED, False)


def _ignore_ended(group: GroupStatus, release: str | None, count: int, received_at: datetime | None) -> str | None:
    if group.ignored_until is not None and received_at is not None and received_at >= group.ignored_until:
        return "date"
    if group.ignored_until_count is not None and count >= group.ignored_until_count:
        return "count"
    if group.ignored_until_release is not None and release_is_after(release, group.ignored_until_release):
        return "release"
    return None


def _straggler(occurred_hour: str | None, resolved_at: datetime | None) -> bool:
    """Whether a crash of ``occurred_hour`` happened in an hour before the resolve."""
    if occurred_hour is None or resolved_at is None:
        return False
    return occurred_hour < resolved_at.strftime("%Y-%m-%dT%H:00Z")
