"""Progress lines and safe interruption for long operations (backup, restore, retention, rotation).

Progress goes to stderr, so stdout stays for results. On a terminal one line is rewritten in
place; otherwise (``--progress`` into a pipe or a log) a line is printed per stage and at most
one a second between.

Interruption: :func:`stop_on_signals` turns SIGINT and SIGTERM into a :class:`StopFlag`.
Operations that work in batches (retention, rotation) look at the flag between batches and
stop with their committed state; operations that write one result (an archive, a restored
directory) call :meth:`StopFlag.check` often and clean up their temporary name on the way out.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import BinaryIO, Protocol, TextIO

from crashveil.errors import Interrupted

__all__ = ["CheckedReader", "LineProgress", "NoProgress", "Progress", "StopFlag", "stop_on_signals"]


class Progress(Protocol):
    """What a long operation reports: stages, and units done within a stage."""

    def stage(self, label: str, total: int | None = None, unit: str = "") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress that shows nothing (no terminal, no ``--progress``)."""

    def stage(self, label: str, total: int | None = None, unit: str = "") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


def _amount(value: int, unit: str) -> str:
    if unit == "bytes":
        for name, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= size:
                return f"{value / size:.1f} {name}"
        return f"{value} B"
    return f"{value} {unit}".rstrip()


class LineProgress:
    """Progress lines on ``stream`` (stderr); rewritten in place on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every_s = 0.1 if self._tty else every_s
        self._clock = clock
        self._label, self._unit, self._done, self._shown_at = "", "", 0, float("-inf")
        self._total: int | None = None
        self._open_line = False

    def stage(self, label: str, total: int | None = None, unit: str = "") -> None:
        self.finish()
        self._label, self._total, self._unit, self._done = label, total, unit, 0
        self._show(force=True)

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        self._show(force=False)

    def finish(self) -> None:
        if self._label:
            self._show(force=True, final=True)
        self._label = ""

    def _show(self, *, force: bool, final: bool = False) -> None:
        now = self._clock()
        if not force and now - self._shown_at < self._every_s:
            return
        self._shown_at = now
        text = self._label if self._total is None and not self._done else f"{self._label}: " + _amount(
            self._done, self._unit)
        if self._total:
            text += f" of {_amount(self._total, self._unit)} ({min(100, 100 * self._done // self._total)}%)"
        if final:
            text += " ... done" if text == self._label else " done"
        if self._tty:
            self._stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


class StopFlag:
    """Set when SIGINT or SIGTERM arrived; :meth:`check` raises :class:`Interrupted` then."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, name: str) -> None:
        self.signal_name = name
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(f"stopped by {self.signal_name or 'request'}; nothing half-written was left behind")


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """A :class:`StopFlag` set by SIGINT/SIGTERM while inside (main thread only; elsewhere the
    flag is never set by a signal). A second signal stops at once (KeyboardInterrupt)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class CheckedReader(io.RawIOBase):
    """Reads from ``source``, checking ``stop`` before and advancing ``progress`` after every read."""

    def __init__(self, source: BinaryIO, progress: Progress, stop: StopFlag) -> None:
        self._source, self._progress, self._stop = source, progress, stop

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._stop.check()
        data = self._source.read(size)
        self._stop.check()
        self._progress.advance(len(data))
        return data
