"""The breadcrumb ring: the last few steps the app took, kept in memory only.

``crashveil.add_breadcrumb()`` stores ``(monotonic time, category, message)`` here, raw, only
while the user granted a level whose allowlist has ``breadcrumbs`` and the remote config has
not turned the module off (the client checks; this ring does not know about consent). The
ring holds at most ``LIMITS["max_breadcrumbs"]`` entries, the oldest dropped first. Nothing
here is ever written to disk: at a crash, :meth:`Breadcrumbs.snapshot` gives the entries
with their offset before the crash, and the collector redacts and cuts them into the sealed
report.

Standard library only, made on first use: ``init()`` with consent off never imports it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Breadcrumbs", "RawBreadcrumb"]

#: Raw text is cut to this when stored (bounded memory); redaction and the wire cut come later.
_RAW_MESSAGE_MAX = 4 * 2048
_RAW_CATEGORY_MAX = 256

#: ``(offset_s before the crash, category, message)``: raw, not redacted, never written.
RawBreadcrumb = tuple[float, str, str]


class Breadcrumbs:
    """A bounded, thread-safe ring of raw breadcrumbs with monotonic timestamps.

    Args:
        clock: a monotonic clock in seconds (injectable for tests).
        limit: the most entries kept (the oldest go first).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int | None = None) -> None:
        if limit is None:
            from crashveil.wire.report import LIMITS

            limit = LIMITS["max_breadcrumbs"]
        self.clock = clock
        self._items: deque[tuple[float, str, str]] = deque(maxlen=max(0, int(limit)))
        self._lock = threading.Lock()

    def add(self, message: str, category: str) -> None:
        """Remember one step (raw text, bounded length) at the clock's current time."""
        at = float(self.clock())
        item = (at, category[:_RAW_CATEGORY_MAX], message[:_RAW_MESSAGE_MAX])
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> tuple[RawBreadcrumb, ...]:
        """The entries, oldest first, each with its offset in seconds before now (never negative)."""
        now = float(self.clock())
        with self._lock:
            items = tuple(self._items)
        return tuple((max(0.0, now - at), category, message) for at, category, message in items)

    def clear(self) -> None:
        """Forget every entry (consent withdrawn or lowered)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
