"""The local, user-visible log of what was queued and what was sent.

Transparency for the person whose app crashed: ``crashveil.history()`` and ``crashveil
client show`` list each report (time, crash type, level, state, receipt id) without its
content. Only when the app enables ``keep_history_content`` is the exact redacted report text
kept too, so the user can read what left the device.

The log is append-only JSON lines (``history.jsonl``): one line per event, merged by item
id when read (the last state wins, except that a waiting state, ``queued`` or ``pending``,
never replaces a settled one: the sender may deliver an item and write "sent" before the
capture that queued it writes its own line). It is compacted to the newest ``MAX_ENTRIES``
items. It is written only once a report exists: with consent off it never appears.

A report's state lives in two files, its queue item and this log, written one after the
other; a process killed in between leaves them out of step until the sender settles the
item. The queue file is written first and the sender writes "sent" (or "rejected") before
it removes the item, so the queue always holds what the log has not settled, and
:meth:`History.settle` records a missing item from its queue meta (kind, crash type,
level, time: what the queue file holds in clear, nothing more).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crashveil.sdk.delivery.queue import QueueItem
    from crashveil.sdk.transport import SendResult

__all__ = ["HistoryEntry", "History", "MAX_ENTRIES", "WAITING_STATES"]

MAX_ENTRIES = 200
#: States an item waits in; any other state is settled and a waiting line never replaces it.
WAITING_STATES = frozenset({"queued", "pending"})


@dataclass(frozen=True)
class HistoryEntry:
    """One report (or deletion request) as the user sees it in the history."""

    id: str
    time: float
    kind: str
    crash_type: str
    level: str
    state: str
    receipt: str | None = None
    content: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


class History:
    """Reads and appends ``<data_dir>/history.jsonl``."""

    def __init__(self, data_dir: Path, *, keep_content: bool = False,
                 now: Callable[[], float] = time.time) -> None:
        self.path = data_dir / "history.jsonl"
        self.keep_content = keep_content
        self.now = now
        self._lock = threading.Lock()

    def record(self, item_id: str, *, kind: str, crash_type: str, level: str, state: str,
               receipt: str | None = None, content: str | None = None, at: float | None = None,
               sync: bool = False) -> None:
        """Append one event; ``content`` is dropped unless the app enabled keeping it.

        ``sync``: on disk (fsync) before returning, for a line that must outlive a power cut
        once the caller's next step (removing the queue item) has happened.
        """
        from crashveil.wire.canonical import canonical_json

        entry = HistoryEntry(id=item_id, time=float(self.now() if at is None else at), kind=kind,
                             crash_type=crash_type, level=level, state=state, receipt=receipt,
                             content=content if self.keep_content else None)
        line = canonical_json(entry.to_dict(), ensure_ascii=True) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self.path.stat().st_size > MAX_ENTRIES * 2 * 1024:
                self._compact()

    def update(self, item_id: str, *, state: str, receipt: str | None = None) -> None:
        """Record a new state for an item already in the history."""
        entry = self._find(item_id)
        if entry is not None:
            self.record(item_id, kind=entry.kind, crash_type=entry.crash_type, level=entry.level,
                        state=state, receipt=receipt or entry.receipt, content=entry.content,
                        at=entry.time)

    def settle_sent(self, item: QueueItem, result: SendResult) -> None:
        """Settle ``item``'s line from the server's answer to it (the sender's ``on_sent``).

        2xx: ``sent`` (a deletion request: ``acknowledged``) with its receipt; a 4xx other
        than 408 and 429: ``rejected`` (the sender drops it); any other answer leaves the
        line waiting, since the item is kept and sent again.
        """
        status = int(result.status)
        receipt = None
        if 200 <= status < 300:
            state = "acknowledged" if item.meta.kind == "deletion" else "sent"
            receipt = result.receipt
        elif 400 <= status < 500 and status not in (408, 429):
            state = "rejected"
        else:
            return
        meta = item.meta
        self.settle(item.id, state=state, receipt=receipt, kind=meta.kind, crash_type=meta.crash_type,
                    level=meta.level, at=meta.created)

    def settle(self, item_id: str, *, state: str, receipt: str | None, kind: str, crash_type: str,
               level: str, at: float) -> None:
        """The sender finished an item (``sent``, ``acknowledged``, ``rejected``); on disk
        (fsync) before returning, since the sender removes the queue item next.

        ``kind``, ``crash_type``, ``level`` and ``at`` come from the item's queue meta and are
        used only when the history has no line for it: the app was killed after writing the
        queue file and before writing the line, and the report is delivered at a later start.
        """
        entry = self._find(item_id)
        if entry is None:
            self.record(item_id, kind=kind, crash_type=crash_type, level=level, state=state, receipt=receipt,
                        at=at, sync=True)
        else:
            self.record(item_id, kind=entry.kind, crash_type=entry.crash_type, level=entry.level, state=state,
                        receipt=receipt or entry.receipt, content=entry.content, at=entry.time, sync=True)

    def _find(self, item_id: str) -> HistoryEntry | None:
        for entry in self.entries():
            if entry.id == item_id:
                return entry
        return None

    def entries(self) -> list[HistoryEntry]:
        """Every item, oldest first, each in its latest state."""
        import json

        try:
            lines = self.path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        merged: dict[str, HistoryEntry] = {}
        for line in lines:
            try:
                data = json.loads(line)
                entry = HistoryEntry(**{key: data.get(key) for key in HistoryEntry.__dataclass_fields__})
            except (ValueError, TypeError):
                continue  # a torn last line after a crash: skip it
            previous = merged.pop(entry.id, None)
            if previous is not None and entry.state in WAITING_STATES and previous.state not in WAITING_STATES:
                # Settled before the capture wrote its own line: keep the state, add the text.
                entry = replace(previous, content=previous.content or entry.content)
            merged[entry.id] = entry
        return sorted(merged.values(), key=lambda entry: entry.time)[-MAX_ENTRIES:]

    def clear(self) -> None:
        """Forget everything (``crashveil client clear``)."""
        with self._lock:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def _compact(self) -> None:
        from crashveil.wire.canonical import canonical_json

        keep = self._entries_unlocked()
        temporary = self.path.with_name(f".history.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for entry in keep:
                os.write(fd, canonical_json(entry.to_dict(), ensure_ascii=True) + b"\n")
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    def _entries_unlocked(self) -> list[HistoryEntry]:
        return self.entries()
