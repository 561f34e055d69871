"""The breadcrumbs as a timeline: oldest first, each with its time before the crash.

A breadcrumb carries seconds before the crash (``offset_s``), a category and a message; the
wire format has no level for it. Equal offsets keep the order the report sent them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashveil.server.dashboard.report_view.text import free_text, one_line
from crashveil.wire.report import Breadcrumb

__all__ = ["Crumb", "before_crash", "timeline_of"]


@dataclass(frozen=True)
class Crumb:
    """One step before the crash; ``duration`` is its offset as an ISO 8601 duration (``<time>``)."""

    offset_s: int
    when: str
    duration: str
    category: str
    message: str


def before_crash(seconds: int) -> str:
    """``seconds`` before the crash in words: ``"at the crash"``, ``"42 s before"``, ``"1 h 2 min 5 s before"``."""
    if seconds <= 0:
        return "at the crash"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p) + " before"


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"


def timeline_of(breadcrumbs: tuple[Breadcrumb, ...]) -> tuple[Crumb, ...]:
    """The breadcrumbs oldest first (largest offset first; ties in the order sent)."""
    ordered = sorted(enumerate(breadcrumbs), key=lambda pair: (-pair[1].offset_s, pair[0]))
    return tuple(Crumb(crumb.offset_s, before_crash(crumb.offset_s), _duration(crumb.offset_s),
                       one_line(crumb.category), free_text(crumb.message)) for _, crumb in ordered)
