"""The local, user-visible log of what was queued and what was sent.

Transparency for the person whose app crashed: ``crashveil.history()`` and ``crashveil
client show`` list each report (time, crash type, level, state, receipt id) without its
content. Only when the app enables ``keep_history_content`` is the exact redacted report text
kept too, so the user can read what left the device.

The log is append-only JSON lines (``history.jsonl``): one line per event, merged by item
id when read (the last state wins). It is compacted to the newest ``MAX_ENTRIES`` items.
It is written only once a report exists: with consent off it never appears.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["HistoryEntry", "History", "MAX_ENTRIES"]

MAX_ENTRIES = 200


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
               receipt: str | None = None, content: str | None = None, at: float | None = None) -> None:
        """Append one event; ``content`` is dropped unless the app enabled keeping it."""
        import json

        entry = HistoryEntry(id=item_id, time=float(self.now() if at is None else at), kind=kind,
                             crash_type=crash_type, level=level, state=state, receipt=receipt,
                             content=content if self.keep_content else None)
        line = json.dumps(entry.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            if self.path.stat().st_size > MAX_ENTRIES * 2 * 1024:
                self._compact()

    def update(self, item_id: str, *, state: str, receipt: str | None = None) -> None:
        """Record a new state for an item already in the history."""
        for entry in self.entries():
            if entry.id == item_id:
                self.record(item_id, kind=entry.kind, crash_type=entry.crash_type, level=entry.level,
                            state=state, receipt=receipt or entry.receipt, content=entry.content,
                            at=entry.time)
                return

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
            merged.pop(entry.id, None)
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
        import json

        keep = self._entries_unlocked()
        temporary = self.path.with_name(f".history.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for entry in keep:
                os.write(fd, (json.dumps(entry.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode())
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    def _entries_unlocked(self) -> list[HistoryEntry]:
        return self.entries()
