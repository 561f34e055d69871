"""Public test helpers for apps that use crashveil (and for crashveil's own tests).

``RecordingTransport`` is a real ``Transport``: the sender hands it sealed bytes exactly as
it would hand them to ``HttpsTransport``, and it keeps them (in memory, and in a directory
if asked, so a test can inspect what a crashed subprocess would have sent). It answers with
a configurable status and a receipt.

``captured_reports()`` collects the ``Report`` objects the current client builds, after the
allowlist and redaction and before sealing: the exact content that would be sent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crashveil.sdk.transport import SendResult
    from crashveil.wire.report import Report

__all__ = ["RecordingTransport", "SentItem", "captured_reports"]


@dataclass(frozen=True)
class SentItem:
    """One item the sender delivered: its kind (``report`` or ``deletion``) and sealed bytes."""

    kind: str
    sealed: bytes


class RecordingTransport:
    """A transport that records instead of sending.

    Args:
        status: the HTTP status every send answers (201 stores; 503 keeps items queued).
        directory: if given, each sent item is also written there as ``<n>-<kind>.sealed``.
        config: the bytes ``fetch_config()`` returns (a signed remote-config document).
        opener: turns sealed bytes back into the payload (e.g. the server's ``open_report``
            with a test key pair); used by :meth:`payloads`.
    """

    def __init__(self, *, status: int = 201, directory: str | os.PathLike[str] | None = None,
                 config: bytes | None = None, opener: Callable[[bytes], bytes] | None = None) -> None:
        self.status = status
        self.directory = Path(directory) if directory is not None else None
        self.config = config
        self.opener = opener
        self.replies: bytes | None = None  # what fetch_feedback_replies() answers
        self.reply_fetches: list[list[str]] = []
        self.sent: list[SentItem] = []
        self.attempts = 0
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, kind: str, sealed: bytes) -> SendResult:
        from crashveil.sdk.transport import SendResult

        with self._lock:
            self.attempts += 1
            number = next(self._counter)
            if not 200 <= self.status < 300:
                return SendResult(status=self.status, retry_after_s=1.0 if self.status in (429, 503) else None)
            self.sent.append(SentItem(kind, bytes(sealed)))
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                (self.directory / f"{number:06d}-{kind}.sealed").write_bytes(sealed)
            return SendResult(status=self.status, receipt=f"rcpt-{number:06d}")

    def fetch_config(self) -> bytes | None:
        return self.config

    def fetch_feedback_replies(self, handles: list[str]) -> bytes | None:
        """Records the handles asked about; answers ``self.replies``."""
        with self._lock:
            self.reply_fetches.append(list(handles))
        return self.replies

    def payloads(self, kind: str = "report") -> list[bytes]:
        """The opened payloads of the items of ``kind`` sent so far (needs ``opener``)."""
        if self.opener is None:
            raise ValueError("RecordingTransport(opener=...) is needed to open sealed items")
        return [self.opener(item.sealed) for item in self.sent if item.kind == kind]


@contextlib.contextmanager
def captured_reports() -> Iterator[list[Report]]:
    """Collect every report the current client builds while the block runs.

    ``crashveil.init(...)`` must have been called; before it, the list stays empty.
    """
    import crashveil

    reports: list[Report] = []
    client = crashveil._current()
    observers = getattr(client, "observers", None)
    if observers is None:
        yield reports
        return
    observers.append(reports.append)
    try:
        yield reports
    finally:
        with contextlib.suppress(ValueError):
            observers.remove(reports.append)
