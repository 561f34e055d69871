"""Sentry envelopes: the size limits and the incremental, linear-time parser.

Framing (develop.sentry.dev, "Envelopes"): a JSON header line, then items, each a JSON header
line and a payload of ``length`` bytes (followed by an optional newline) or, without
``length``, up to the next newline. Only an ``event`` item's payload is kept, and the
payloads of small ``client_report`` items (the SDK's own counts of what it discarded, read
by ``client_reports.py``); every other item is skipped as it streams and its type counted.

Linear time whatever the input: the parser keeps one buffer and an offset into it; every
step (find the end of a line, skip blank lines, skip a payload) is one C-level scan or slice
over bytes not seen before, and consumed bytes are dropped in bulk, never byte by byte. A
bomb of 100 MiB of blank lines after a valid header once cost ~100 M Python-level deletions
(seconds of a blocked event loop); now it is one ``lstrip`` per 64 KiB.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crashveil.errors import ReportRejected

__all__ = ["Envelope", "EnvelopeParser", "ITEM_CATEGORIES", "SentryLimits"]

MiB = 1024 * 1024
#: A client report is a few hundred bytes of counts; a larger one is skipped and counted.
CLIENT_REPORT_MAX_BYTES = 64 * 1024
#: Client reports kept from one envelope (an SDK sends one).
CLIENT_REPORTS_KEPT = 4

#: Envelope item type -> Sentry data category (for X-Sentry-Rate-Limits); None: never limited.
ITEM_CATEGORIES: dict[str, str | None] = {
    "event": "error", "transaction": "transaction", "span": "span", "spans": "span", "otel_span": "span",
    "session": "session", "sessions": "session", "attachment": "attachment", "replay_event": "replay",
    "replay_recording": "replay", "replay_video": "replay", "profile": "profile", "profile_chunk": "profile_chunk",
    "check_in": "monitor", "log": "log_item", "otel_log": "log_item", "statsd": "metric_bucket",
    "metric_buckets": "metric_bucket", "user_report": "user_report", "feedback": "feedback",
    "security": "security", "raw_security": "security", "unreal_report": "error", "form_data": None,
    "client_report": None, "nel": None,
}
_COUNTED_TYPES = frozenset(ITEM_CATEGORIES) | {"<unknown>"}
#: Blank lines are skipped a window at a time (``lstrip`` in C; ``re`` is ~3x slower).
_SKIP_WINDOW = 64 * 1024
#: Consumed bytes are dropped from the buffer once there are this many (or half the buffer).
_COMPACT_AT = 64 * 1024


@dataclass(frozen=True)
class SentryLimits:
    """Size limits of the Sentry endpoints, per request and per item.

    Relay's defaults (getsentry/relay ``docs/configuration/options.md``, "Size Limits") are
    ``max_event_size`` 1 MiB, ``max_api_payload_size`` 20 MiB (on the wire),
    ``max_envelope_size`` 50 MiB and ``max_attachment_size`` 50 MiB (decompressed); sentry.io
    documents 200 KiB compressed for the store endpoint. We keep the event cap (1 MiB, an
    event is all we store) and the store cap, but not the envelope caps: those exist for
    attachments, replays and profiles, which crashveil drops unread. Inflating 50 MiB only to
    drop it is pure amplification for anyone holding the public DSN key (~50 KiB of gzip
    buys ~50 MiB of work). So an envelope is capped at 8 MiB on the wire and 8 MiB
    decompressed: eight times the largest event we keep, room for the session, client report
    and small attachments an SDK puts beside it, and at most ~10 ms of inflating and
    parsing per request. Any one item is capped at the envelope cap too, refused from its
    header alone when it declares a larger ``length``. The price: an envelope carrying an
    event and more than ~7 MiB of attachments is refused (413) whole, event included.
    """

    max_envelope_bytes: int = 8 * MiB
    max_envelope_decompressed_bytes: int = 8 * MiB
    max_event_bytes: int = 1 * MiB
    max_store_bytes: int = 200 * 1024
    max_header_bytes: int = 8 * 1024
    max_items: int = 200


def _bad(code: str, message: str, status: int = 400) -> ReportRejected:
    return ReportRejected(code, message, status=status)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")  # e.g. two sent_at: the envelope is rejected (spec)
        result[key] = value
    return result


def _json_header(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad("malformed_envelope", f"the {what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise _bad("malformed_envelope", f"the {what} is not a JSON object")
    return value


@dataclass
class Envelope:
    """What the parser kept: the header, the one event payload, and counts of the rest."""

    header: dict[str, Any]
    event: bytes | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    #: Payloads of the ``client_report`` items kept (at most :data:`CLIENT_REPORTS_KEPT`).
    client_reports: list[bytes] = field(default_factory=list)


class EnvelopeParser:
    """Incremental envelope parser: feed decompressed chunks, then ``finish()``.

    Only an ``event`` item's payload is kept (up to ``max_event_bytes``); the payload of any
    other item is skipped as it streams. Any framing fault is a 400 ``malformed_envelope``;
    an item or event over its cap is 413 ``too_large``. Work per ``feed`` is linear in the
    bytes fed (see the module docstring).
    """

    def __init__(self, limits: SentryLimits) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._pos = 0  # first byte not consumed
        self._scanned = 0  # the pending line has no newline before this offset
        self._state = "header"
        self._envelope: Envelope | None = None
        self._items = 0
        self._keep = False
        self._keep_report = False  # a client report's payload, while it stays small
        self._type = ""
        self._remaining = 0
        self._payload = bytearray()

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._pos and (self._pos >= _COMPACT_AT or 2 * self._pos >= len(self._buf)):
            del self._buf[:self._pos]
            self._scanned = max(0, self._scanned - self._pos)
            self._pos = 0
        self._buf += data
        self._run(final=False)

    def finish(self) -> Envelope:
        self._run(final=True)
        if self._envelope is None:
            raise _bad("empty_envelope", "the envelope is empty")
        if self._state == "payload_fixed":
            raise _bad("malformed_envelope", "an item's length goes beyond the end of the envelope")
        if self._state == "payload_line":
            self._end_item()
        return self._envelope

    # -- the state machine ------------------------------------------------------------------
    def _line(self, final: bool) -> bytes | None:
        """The next header line without its newline, or ``None`` until it is complete."""
        buf, pos, cap = self._buf, self._pos, self.limits.max_header_bytes
        end = buf.find(b"\n", max(pos, self._scanned), pos + cap + 1)
        if end < 0:
            if len(buf) - pos > cap:
                raise _bad("malformed_envelope", f"a header line is longer than {cap} bytes")
            if final and pos < len(buf):
                self._pos = self._scanned = len(buf)
                return bytes(buf[pos:])
            self._scanned = len(buf)
            return None
        self._pos = self._scanned = end + 1
        return bytes(buf[pos:end])

    def _run(self, *, final: bool) -> None:
        buf = self._buf
        while True:
            if self._state == "header":
                line = self._line(final)
                if line is None:
                    return
                if not line.strip():
                    raise _bad("empty_envelope", "the envelope has no header")
                self._envelope = Envelope(_json_header(line, "envelope header"))
                self._state = "item_header"
            elif self._state == "item_header":
                if not self._skip_blank_lines():
                    return
                line = self._line(final)
                if line is None:
                    return
                self._start_item(_json_header(line, "item header"))
            elif self._state == "payload_fixed":
                take = min(self._remaining, len(buf) - self._pos)
                if take:
                    if self._keep or self._keep_report:
                        self._payload += buf[self._pos:self._pos + take]
                    self._pos += take
                    self._remaining -= take
                if self._remaining:
                    return
                self._end_item()
                self._scanned = self._pos
                self._state = "item_header"  # which skips the payload's optional newline
            elif self._state == "payload_line":
                end = buf.find(b"\n", self._pos)
                stop = len(buf) if end < 0 else end
                if self._keep:
                    if len(self._payload) + stop - self._pos > self.limits.max_event_bytes:
                        raise _bad("too_large", f"the event is larger than {self.limits.max_event_bytes} bytes", 413)
                    self._payload += buf[self._pos:stop]
                elif self._keep_report:
                    self._keep_report = len(self._payload) + stop - self._pos <= CLIENT_REPORT_MAX_BYTES
                    self._payload += buf[self._pos:stop] if self._keep_report else b""
                if end < 0:
                    self._pos = self._scanned = len(buf)
                    return
                self._pos = self._scanned = end + 1
                self._end_item()
                self._state = "item_header"
            else:  # pragma: no cover - no other state exists
                raise AssertionError(self._state)

    def _skip_blank_lines(self) -> bool:
        """Consume CR and LF bytes; whether a byte of something else is next."""
        buf, start = self._buf, self._pos
        while self._pos < len(buf):
            window = buf[self._pos:self._pos + _SKIP_WINDOW]
            blank = len(window) - len(window.lstrip(b"\r\n"))
            self._pos += blank
            if blank < len(window):
                break
        if self._pos != start:
            self._scanned = self._pos
        return self._pos < len(buf)

    def _start_item(self, header: dict[str, Any]) -> None:
        assert self._envelope is not None
        self._items += 1
        if self._items > self.limits.max_items:
            raise _bad("too_many_items", f"more than {self.limits.max_items} items in one envelope", 413)
        kind = header.get("type")
        if not isinstance(kind, str) or not kind:
            raise _bad("malformed_envelope", "an item header has no type")
        length = header.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            raise _bad("malformed_envelope", "an item's length is not a non-negative integer")
        self._type = kind
        self._keep = kind == "event"
        self._keep_report = (kind == "client_report" and len(self._envelope.client_reports) < CLIENT_REPORTS_KEPT
                             and (length is None or length <= CLIENT_REPORT_MAX_BYTES))
        if self._keep and self._envelope.event is not None:
            raise _bad("malformed_envelope", "an envelope carries at most one event")
        if self._keep and length is not None and length > self.limits.max_event_bytes:
            raise _bad("too_large", f"the event is larger than {self.limits.max_event_bytes} bytes", 413)
        if length is not None and length > self.limits.max_envelope_decompressed_bytes:
            raise _bad("too_large", f"an item is larger than {self.limits.max_envelope_decompressed_bytes} bytes",
                       413)
        self._payload = bytearray()
        if length is None:
            self._state = "payload_line"
        else:
            self._remaining = length
            self._state = "payload_fixed"

    def _end_item(self) -> None:
        assert self._envelope is not None
        if self._keep:
            self._envelope.event = bytes(self._payload)
        elif self._keep_report:
            self._envelope.client_reports.append(bytes(self._payload))
        else:
            self._envelope.dropped[self._type if self._type in _COUNTED_TYPES else "<unknown>"] += 1
        self._payload = bytearray()
        self._keep = self._keep_report = False
