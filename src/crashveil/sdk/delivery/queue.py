"""The sealed queue on disk: one file per item, written atomically, bounded, self-healing.

Only sealed bytes (``crashveil.sdk.delivery.seal`` output) and a few technical fields ever touch the
disk. A crash is written here synchronously, before the hook returns, so that a process
killed right after the crash still reports it on the next start (RELIABILITY 20).

File format, version 1 (``*.cvq``; integers big-endian)
    ========  =======  ========================================================
    offset    length   field
    ========  =======  ========================================================
    0         4        magic ``b"CVQ1"``
    4         1        format version ``0x01``
    5         2        ``M``: length of the meta JSON (at most 4 KiB)
    7         M        meta JSON, UTF-8, sorted keys: ``kind``, ``crash_type``,
                       ``level``, ``created``, ``attempts`` (:class:`QueueMeta`)
    7+M       4        ``P``: length of the payload
    11+M      P        payload: the sealed envelope, opaque here
    11+M+P    32       SHA-256 of every byte before it
    ========  =======  ========================================================

    The file must end exactly after the digest. SHA-256 rather than CRC32: it costs ~10 us
    for a 4 KiB item and also catches the multi-byte damage a CRC could miss. It protects
    against torn writes and disk faults, not an attacker: the payload is authenticated by
    its HPKE AEAD tag, which the server checks.

Writing
    ``.tmp-<name>`` is created with ``O_CREAT | O_EXCL`` and mode 0600, written, fsynced,
    renamed to ``<name>.cvq``, then the directory is fsynced. Names are
    ``<microseconds since epoch, 17 digits>-<pid>-<counter>-<8 random bytes hex>``: unique
    across threads and forked processes, and sorting them sorts the items oldest first.
    The directory is created (or tightened to) mode 0700.

Bounds (from the policy's ``limits.queue_*``)
    After each write, under an ``fcntl.flock`` on ``.lock`` (``files.py``; a fresh file description per
    operation, so threads and forked processes exclude each other and no lock is inherited
    across ``fork``), the oldest items are removed while there are more than
    ``max_reports`` items or more than ``max_bytes`` bytes; each counts as
    ``queue_overflow``. Deletion requests are evicted only when no other item is left: a
    user's request to erase their data outlives crash reports. An item larger than
    ``max_bytes`` on its own is not written (``too_large``).

Reading
    :meth:`SealedQueue.items` checks every file's framing and digest. A file that fails
    (torn write, truncation, zero-filled tail, flipped byte, foreign file) is removed and
    counted as ``corrupt``; items older than ``max_age_days`` are removed and counted as
    ``expired`` (deletion requests do not expire). Leftover temp files older than an hour
    are removed (``corrupt``). Nothing here raises because of one bad file, so a queue full
    of poison cannot make the app crash at every start.

Drop counters
    ``dropped.log`` in the same directory: lines ``<reason> <count>`` appended under the
    lock and summed when read, so counts survive restarts and are reported later as an
    aggregate (:meth:`SealedQueue.take_dropped` reads and resets them). Reasons follow the
    report's ``client_stats`` key pattern (``queue_overflow``, ``expired``, ``corrupt``,
    ``too_large``, ``write_failed``, ``rejected_413``, ...).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crashveil.errors import StorageError
from crashveil.sdk.delivery.files import flock, fsync_dir, try_unlink, write_durably
from crashveil.wire.canonical import canonical_json

__all__ = ["KINDS", "QueueItem", "QueueMeta", "SealedQueue", "encode_item", "decode_item"]

KINDS = ("report", "deletion", "pending", "adoption", "feedback")

MAGIC = b"CVQ1"
VERSION = 1
_SUFFIX = ".cvq"
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_SEND_LOCK_NAME = ".send.lock"
_DROPPED_NAME = "dropped.log"
_DROPPED_COMPACT_BYTES = 64 * 1024
_REASON_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DIGEST_BYTES = 32
_MAX_META_BYTES = 4096
_PREFIX = struct.Struct(">4sBH")  # magic, version, meta length
_PAYLOAD_LEN = struct.Struct(">I")
_STALE_TMP_S = 3600.0
_DAY_S = 86400.0

_counter = itertools.count()


@dataclass(frozen=True)
class QueueMeta:
    """What the queue and sender may know about an item, besides its sealed bytes.

    ``kind`` is ``"report"``, ``"deletion"``, ``"adoption"`` or ``"feedback"`` (sent by the sender) or
    ``"pending"`` (kept until the user reviews it; never sent). ``created`` is the epoch time of the crash.
    """

    kind: str
    crash_type: str
    level: str
    created: float
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")

    def to_json(self) -> bytes:
        data = {"kind": self.kind, "crash_type": self.crash_type, "level": self.level,
                "created": float(self.created), "attempts": int(self.attempts)}
        return canonical_json(data, ensure_ascii=True)

    @classmethod
    def from_json(cls, raw: bytes) -> QueueMeta:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("meta is not an object")
        kind, crash_type, level = data.get("kind"), data.get("crash_type"), data.get("level")
        created, attempts = data.get("created"), data.get("attempts", 0)
        if not (isinstance(kind, str) and isinstance(crash_type, str) and isinstance(level, str)):
            raise ValueError("meta strings have the wrong type")
        if isinstance(created, bool) or not isinstance(created, (int, float)):
            raise ValueError("meta.created is not a number")
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise ValueError("meta.attempts is not an integer")
        return cls(kind=kind, crash_type=crash_type, level=level, created=float(created), attempts=attempts)


@dataclass(frozen=True)
class QueueItem:
    """One queued item as listed by :meth:`SealedQueue.items`; ``size`` is the file size."""

    id: str
    meta: QueueMeta
    path: Path
    size: int


def encode_item(sealed: bytes, meta: QueueMeta) -> bytes:
    """The bytes of one queue file (format in the module docstring)."""
    meta_raw = meta.to_json()
    if len(meta_raw) > _MAX_META_BYTES:
        raise ValueError("queue meta too long")
    body = (_PREFIX.pack(MAGIC, VERSION, len(meta_raw)) + meta_raw
            + _PAYLOAD_LEN.pack(len(sealed)) + bytes(sealed))
    return body + hashlib.sha256(body).digest()


def decode_item(data: bytes) -> tuple[QueueMeta, bytes]:
    """``(meta, sealed)`` from the bytes of one queue file; ``ValueError`` if damaged."""
    if len(data) < _PREFIX.size + _PAYLOAD_LEN.size + _DIGEST_BYTES:
        raise ValueError("too short")
    magic, version, meta_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION or meta_len > _MAX_META_BYTES:
        raise ValueError("bad header")
    offset = _PREFIX.size + meta_len
    if len(data) < offset + _PAYLOAD_LEN.size:
        raise ValueError("truncated meta")
    (payload_len,) = _PAYLOAD_LEN.unpack_from(data, offset)
    end = offset + _PAYLOAD_LEN.size + payload_len
    if len(data) != end + _DIGEST_BYTES:
        raise ValueError("length mismatch")
    if hashlib.sha256(data[:end]).digest() != data[end:]:
        raise ValueError("bad digest")
    meta = QueueMeta.from_json(data[_PREFIX.size:offset])
    return meta, data[offset + _PAYLOAD_LEN.size:end]


class SealedQueue:
    """A directory of sealed items, bounded by count, bytes and age.

    Args:
        directory: where the items live; created with mode 0700 (tightened if looser).
        max_reports: most items kept; the oldest are dropped beyond it.
        max_bytes: most bytes kept (file sizes); the oldest are dropped beyond it.
        max_age_days: items older than this (by ``QueueMeta.created``) are dropped.
        now: the clock, a parameter for tests.
    """

    def __init__(self, directory: Path, *, max_reports: int, max_bytes: int, max_age_days: int,
                 now: Callable[[], float] = time.time) -> None:
        if max_reports < 1 or max_bytes < 1 or max_age_days < 1:
            raise ValueError("queue bounds must be positive")
        self.directory = Path(directory)
        self.max_reports = max_reports
        self.max_bytes = max_bytes
        self.max_age_days = max_age_days
        self._now = now
        # Counts that could not be persisted (the disk was full): kept here and merged into
        # the file at the next successful update.
        self._unsaved: dict[str, int] = {}
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if (self.directory.stat().st_mode & 0o777) != 0o700:
                os.chmod(self.directory, 0o700)
        except OSError as exc:
            raise StorageError(f"queue directory {self.directory} cannot be created") from exc

    # -- writing ---------------------------------------------------------------------------
    def put(self, sealed: bytes, meta: QueueMeta) -> str:
        """Write one item durably and enforce the bounds; returns its id.

        Returns ``""`` (and counts ``too_large``) when the item alone exceeds ``max_bytes``.
        Raises :class:`StorageError` when the disk refuses the write (full, read-only); the
        temp file is removed and ``write_failed`` counted.
        """
        data = encode_item(sealed, meta)
        if len(data) > self.max_bytes:
            self.count_drop("too_large")
            return ""
        item_id = self._new_id()
        final = self.directory / (item_id + _SUFFIX)
        tmp = self.directory / (_TMP_PREFIX + item_id + _SUFFIX)
        try:
            write_durably(tmp, data)
            os.rename(tmp, final)
            fsync_dir(self.directory)
        except OSError as exc:
            try_unlink(tmp)
            self._count_drop_quietly("write_failed")
            raise StorageError(f"could not write a queue item in {self.directory}") from exc
        self._enforce_bounds()
        return item_id

    def _new_id(self) -> str:
        micros = int(self._now() * 1_000_000)
        return f"{max(micros, 0):017d}-{os.getpid()}-{next(_counter)}-{os.urandom(8).hex()}"

    def _enforce_bounds(self) -> None:
        with self._locked():
            files = self._scan()
            count, total = len(files), sum(size for _, size in files)
            if count <= self.max_reports and total <= self.max_bytes:
                return
            # Oldest first, deletion requests last: a first pass skips them, a second pass
            # (reached only when the queue holds nothing else) takes them too. The meta is
            # peeked at only for the files that are candidates.
            evicted = 0
            removed: set[str] = set()
            for spare_deletions in (True, False):
                for name, size in files:
                    if count <= self.max_reports and total <= self.max_bytes:
                        break
                    path = self.directory / (name + _SUFFIX)
                    if name in removed or (spare_deletions and _peek_kind(path) == "deletion"):
                        continue
                    removed.add(name)
                    evicted += try_unlink(path)
                    count -= 1
                    total -= size
            if evicted:
                self._add_drops_locked({"queue_overflow": evicted})

    def _scan(self) -> list[tuple[str, int]]:
        """``(id, size)`` of every item file, oldest first, by ``stat`` only."""
        found = []
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return []
        for entry in entries:
            if not entry.name.endswith(_SUFFIX) or entry.name.startswith("."):
                continue
            try:
                size = entry.stat().st_size
            except OSError:
                continue
            found.append((entry.name[: -len(_SUFFIX)], size))
        found.sort()
        return found

    # -- reading ---------------------------------------------------------------------------
    def items(self) -> list[QueueItem]:
        """Every valid item, oldest first; damaged and expired files are removed and counted."""
        result: list[QueueItem] = []
        drops: dict[str, int] = {}
        now = self._now()
        max_age_s = self.max_age_days * _DAY_S
        try:
            entries = sorted(os.scandir(self.directory), key=lambda e: e.name)
        except OSError:
            return []
        for entry in entries:
            name = entry.name
            path = Path(entry.path)
            if name.startswith(_TMP_PREFIX):
                try:
                    stale = now - entry.stat().st_mtime > _STALE_TMP_S
                except OSError:
                    stale = False
                if stale and try_unlink(path):
                    drops["corrupt"] = drops.get("corrupt", 0) + 1
                continue
            if not name.endswith(_SUFFIX) or name.startswith("."):
                continue
            try:
                data = path.read_bytes()
                meta, _ = decode_item(data)
            except FileNotFoundError:
                continue  # removed by another thread or process meanwhile
            except (OSError, ValueError):
                if try_unlink(path):
                    drops["corrupt"] = drops.get("corrupt", 0) + 1
                continue
            if meta.kind != "deletion" and now - meta.created > max_age_s:
                if try_unlink(path):
                    drops["expired"] = drops.get("expired", 0) + 1
                continue
            result.append(QueueItem(id=name[: -len(_SUFFIX)], meta=meta, path=path, size=len(data)))
        if drops:
            self._add_drops(drops)
        return result

    def read(self, item: QueueItem) -> bytes:
        """The sealed bytes of ``item``, checked again.

        Raises :class:`StorageError` if the file is gone or damaged (a damaged file is also
        removed and counted as ``corrupt``).
        """
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise StorageError(f"queue item {item.id} cannot be read") from exc
        try:
            _, sealed = decode_item(data)
        except ValueError as exc:
            if try_unlink(item.path):
                self.count_drop("corrupt")
            raise StorageError(f"queue item {item.id} is damaged") from exc
        return sealed

    def __len__(self) -> int:
        return len(self._scan())

    # -- removing --------------------------------------------------------------------------
    def remove(self, item_id: str) -> bool:
        """Remove one item; ``False`` if it was already gone."""
        if not item_id or "/" in item_id or item_id.startswith("."):
            return False
        return try_unlink(self.directory / (item_id + _SUFFIX))

    def clear(self) -> int:
        """Remove every item (and temp file); returns how many items were removed.

        Used when consent is revoked: nothing collected under the old consent stays behind.
        Drop counters are kept (they hold no report content).
        """
        removed = 0
        with self._locked():
            for entry in list(os.scandir(self.directory)):
                if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                    removed += try_unlink(Path(entry.path))
                elif entry.name.startswith(_TMP_PREFIX):
                    try_unlink(Path(entry.path))
            fsync_dir(self.directory)
        return removed

    # -- drop counters ---------------------------------------------------------------------
    @property
    def dropped(self) -> dict[str, int]:
        """A snapshot of the persisted drop counters: reason -> count."""
        counts = self._read_dropped()
        for reason, n in self._unsaved.items():
            counts[reason] = counts.get(reason, 0) + n
        return counts

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Add ``n`` to the persisted counter ``reason`` (e.g. ``rejected_413``)."""
        self._add_drops({reason: n})

    def _count_drop_quietly(self, reason: str) -> None:
        try:
            self.count_drop(reason)
        except OSError:
            self._unsaved[reason] = self._unsaved.get(reason, 0) + 1

    def take_dropped(self) -> dict[str, int]:
        """Return the drop counters and reset them (after they went into a report)."""
        with self._locked():
            counts = self._read_dropped()
            for reason, n in self._unsaved.items():
                counts[reason] = counts.get(reason, 0) + n
            self._unsaved = {}
            if counts:
                self._replace_dropped({})
        return counts

    def _add_drops(self, drops: dict[str, int]) -> None:
        with self._locked():
            self._add_drops_locked(drops)

    def _add_drops_locked(self, drops: dict[str, int]) -> None:
        """Append ``<reason> <n>`` lines to the counter log (under the lock).

        An append is one open and one write: a rename per drop cost ~1 ms more on a busy
        ext4 (bench/sdk_queue.py), paid by every crash written to a full queue. Not fsynced:
        a count lost to a power cut costs less than an fsync per drop. A torn last line is
        ignored when read. The log is compacted when it grows past 64 KiB.
        """
        lines = []
        for source in (self._unsaved, drops):
            for reason, n in source.items():
                if _REASON_RE.match(reason) and n > 0:
                    lines.append(f"{reason} {int(n)}\n")
        if not lines:
            return
        path = self.directory / _DROPPED_NAME
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.write(fd, "".join(lines).encode("ascii"))
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        self._unsaved = {}
        if size > _DROPPED_COMPACT_BYTES:
            self._replace_dropped(self._read_dropped())

    def _read_dropped(self) -> dict[str, int]:
        try:
            text = (self.directory / _DROPPED_NAME).read_bytes().decode("ascii", "replace")
        except OSError:
            return {}
        counts: dict[str, int] = {}
        for line in text.split("\n"):
            reason, _, number = line.partition(" ")
            if _REASON_RE.match(reason) and number.isdigit() and len(number) <= 12:
                counts[reason] = counts.get(reason, 0) + int(number)
        return {k: v for k, v in counts.items() if v > 0}

    def _replace_dropped(self, counts: dict[str, int]) -> None:
        final = self.directory / _DROPPED_NAME
        tmp = self.directory / f"{_TMP_PREFIX}dropped-{os.getpid()}-{os.urandom(4).hex()}"
        text = "".join(f"{reason} {n}\n" for reason, n in sorted(counts.items()))
        try:
            write_durably(tmp, text.encode("ascii"), sync=False)
            os.replace(tmp, final)
        except OSError:
            try_unlink(tmp)
            raise

    # -- locks -----------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with flock(self.directory / _LOCK_NAME, blocking=True):
            yield

    @contextmanager
    def sending(self) -> Iterator[bool]:
        """Try to become the one sender of this directory; yields ``False`` if another has it.

        Several processes (forked workers) may share a queue directory; this keeps two of
        them from sending the same item at once. Non-blocking.
        """
        with flock(self.directory / _SEND_LOCK_NAME, blocking=False) as acquired:
            yield acquired


def _peek_kind(path: Path) -> str:
    """The ``kind`` of a queue file from its meta, or ``""`` when unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_PREFIX.size + _MAX_META_BYTES)
        _, _, meta_len = _PREFIX.unpack_from(head, 0)
        return str(json.loads(head[_PREFIX.size:_PREFIX.size + meta_len]).get("kind", ""))
    except (OSError, ValueError, struct.error, AttributeError):
        return ""
