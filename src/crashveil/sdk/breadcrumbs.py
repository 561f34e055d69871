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

from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.store import OFF

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from crashveil.sdk.collect import CrashRecord
    from crashveil.sdk.consent.store import ConsentStore
    from crashveil.sdk.remote.config import RemoteConfig

    class BreadcrumbHost(Protocol):
        """What deciding whether breadcrumbs may be kept uses of the client."""

        consent: ConsentStore

        def remote_config(self) -> RemoteConfig | None: ...

__all__ = ["BreadcrumbGate", "Breadcrumbs", "RawBreadcrumb"]

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


class BreadcrumbGate:
    """Whether breadcrumbs may be kept now, and the ring they are kept in.

    Kept while the granted level's allowlist has ``breadcrumbs`` and the server did not turn
    the module off; decided once per consent or remote-config change (``on`` is None while
    undecided). The ring is made on the first kept crumb.
    """

    def __init__(self, host: BreadcrumbHost, clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        #: The clock of the ring made later (tests set it before the first crumb).
        self.clock = clock
        self.ring: Breadcrumbs | None = None
        self.on: bool | None = None
        self._lock = threading.Lock()

    def add(self, message: str, category: str) -> None:
        """Keep one step if breadcrumbs may be kept; a message that is not a string is ignored."""
        if not self.enabled():
            return
        if not isinstance(message, str):
            return
        if not isinstance(category, str) or not category:
            category = "default"
        if self.ring is None:
            with self._lock:
                if self.ring is None:
                    self.ring = Breadcrumbs(clock=self.clock)
        self.ring.add(message, category)

    def enabled(self) -> bool:
        """Whether breadcrumbs may be kept (decided now if undecided; forgets them when not)."""
        decided = self.on
        if decided is None:
            consent = self.host.consent
            level = consent.level()
            decided = level != OFF and "breadcrumbs" in consent.allowed_fields(level)
            if decided:
                remote = self.host.remote_config()
                decided = remote is None or remote.module_enabled("breadcrumbs")
            self.on = decided
            if not decided:
                self.clear()
        return decided

    def clear(self) -> None:
        """Forget every breadcrumb held in memory."""
        ring = self.ring
        if ring is not None:
            ring.clear()

    def changed(self) -> None:
        """Consent or remote config changed: decide again, and forget the crumbs if now disallowed.

        Decided now only when a ring exists (crumbs may be held); otherwise at the next
        ``add()``: a ``grant()`` need not read the remote config (its signature check loads
        ``cryptography``) for crumbs nobody has added yet.
        """
        self.on = None
        if self.ring is None:
            return
        with suppress_internal_errors("breadcrumb"):
            self.enabled()
        if self.on is not True:
            self.clear()

    def turn_off(self) -> None:
        """Consent revoked: off until the next change, and nothing held."""
        self.on = False
        self.clear()

    def attach(self, record: CrashRecord) -> CrashRecord:
        """``record`` carrying the ring's crumbs (offsets before now), if they may be kept."""
        ring = self.ring
        if ring is None or not self.enabled():
            return record
        crumbs = ring.snapshot()
        if not crumbs:
            return record
        from dataclasses import replace  # loaded already: a CrashRecord exists

        return replace(record, breadcrumbs=crumbs)
