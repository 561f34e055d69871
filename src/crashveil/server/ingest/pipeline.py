"""Ingestion: from a sealed, possibly compressed body to a committed report and a receipt.

The order is the order of cost, cheapest refusal first::

    project rate limit -> Content-Type -> Content-Length -> body, counted and decompressed
    with caps as it streams -> open (HPKE) -> wire format (LIMITS, unknown keys dropped)
    -> policy by digest -> consent level -> replay window -> pseudonym rate limit
    -> allowlist at the level (dropped fields counted) -> redact again (hits counted)
    -> store (one short transaction) -> acknowledge

Nothing is acknowledged before the report's transaction committed: a 201 means committed.
Reports are stored by group commit, many per transaction (``Storage.store_rows``), and each
request's answer waits for the commit of its batch: in one server process a writer thread
does it (:class:`GroupCommitter`); with several, one writer process stores what every
front process prepared (:class:`WriterClient`, :func:`serve_writer`). Everything that
needs no database state (opening, parsing, redaction, fingerprint, the encrypted detail)
happens before, in the request's process, so the one writer spends its time on SQL. A
storage failure is a 503 with ``Retry-After`` (for every report of the failed batch) so
the SDK keeps the sealed report.

The client's address is never read here; ``app.py`` removes it from the ASGI scope before
any route runs, so nothing downstream can log or store it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import pickle
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request

from crashveil.errors import ReportRejected
from crashveil.policy import SCHEMA_VERSION, Report
from crashveil.policy.protocol import PROJECT_ID_PATTERN, SCHEMA_HEADER, SEALED_CONTENT_TYPE
from crashveil.policy.report import REPORT_FIELDS, REQUIRED_FIELDS
from crashveil.server.governance import tombstones
from crashveil.server.http.body import stream_body
from crashveil.server.http.errors import Throttled
from crashveil.server.http.ratelimit import KeyedLimiter, retry_after_header
from crashveil.server.ingest.decode import decode_report, replace_fields
from crashveil.textsafe import normalise_free_text

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.server.http.metrics import Metrics
    from crashveil.server.settings import Settings

__all__ = [
    "Accepted",
    "GroupCommitter",
    "Ingestor",
    "Prepared",
    "redact_report",
    "parse_deletion_request",
    "canonical_json",
]

_PROJECT_RE = re.compile(PROJECT_ID_PATTERN)
_UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_PSEUDONYM_RE = re.compile(r"^[0-9a-f]{32}$")
#: Most install ids one deletion request may name (an install sends its current and past ones).
MAX_DELETION_IDS = 64
#: A crash may be reported with a clock this far ahead of ours (the erasure tombstones' too).
FUTURE_SLACK = tombstones.FUTURE_SLACK
#: ``origin`` of every report that arrives through this API (storage also knows "sentry-sdk").
ORIGIN = "crashveil-sdk"
#: Redaction results kept per policy (see ``Ingestor._redactor``), and the longest text memoised.
REDACT_MEMO_ENTRIES = 65_536
REDACT_MEMO_MAX_CHARS = 512
#: A body that stalls this long is answered 408 and the worker released (Antenna uses 70 s).
BODY_TIMEOUT_S = 30.0
#: Reports up to this size (sealed, decompressed) are prepared on the event loop; larger
#: ones in a worker thread (see ``Ingestor.ingest_async``). A typical 30-frame report is ~3 KiB.
INLINE_PREPARE_BYTES = 16 * 1024
#: Seconds between two background reads of a day's data key that was not there yet.
DATA_KEY_RETRY_S = 5.0


@dataclass(frozen=True)
class Accepted:
    """What the client is told: the receipt, and whether this request created the report."""

    receipt: str
    created: bool
    counts_only: bool


def reject(code: str, message: str, *, status: int = 422, field: str | None = None) -> ReportRejected:
    return ReportRejected(code, message, field=field, status=status)


def outside_window() -> ReportRejected:
    """422: the report's hour is not accepted. Also the answer to a report an erasure's
    tombstone refuses: the same code and words as an old report, so the answer does not say
    that an erasure happened, and a 4xx the SDK drops (never retried)."""
    return reject("outside_replay_window", "the report's hour is outside the accepted window", field="occurred_hour")


def unknown_project() -> ReportRejected:
    return reject("unknown_project", "no such project", status=404)


def check_project_id(project_id: str) -> None:
    """404 for a project id that cannot exist (checked before any lookup or limiter key)."""
    if not _PROJECT_RE.match(project_id):
        raise unknown_project()


def canonical_json(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys, no NaN: the bytes that are signed.

    The same encoding as ``crashveil.sdk.remote_config.encode_config`` (the server does not
    import the SDK); datetimes become ``YYYY-MM-DDTHH:MM:SSZ``.
    """
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False,
                      default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- body -----------------------------------------------------------------------------------


async def read_body(request: Request, *, max_body_bytes: int, max_decompressed_bytes: int,
                    timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The request body, decompressed; limits applied before and while it streams.

    ``Content-Length`` is checked first (a lie that is too large is refused unread); the
    bytes are then counted as they arrive, because the header may be missing (chunked) and
    the server may not have enforced it. Decompression is fed chunk by chunk with its own cap
    (``crashveil.server.http.body.stream_body``).
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != SEALED_CONTENT_TYPE:
        raise reject("unsupported_media_type", f"Content-Type must be {SEALED_CONTENT_TYPE}", status=415)
    schema = request.headers.get(SCHEMA_HEADER)
    if schema is not None and schema.strip() != str(SCHEMA_VERSION):
        raise reject("unsupported_schema", f"{SCHEMA_HEADER} must be {SCHEMA_VERSION}", status=400)
    parts: list[bytes] = []
    await stream_body(request, parts.append, max_body_bytes=max_body_bytes,
                      max_decompressed_bytes=max_decompressed_bytes, timeout_s=timeout_s)
    body = b"".join(parts)
    if not body:
        raise reject("empty_body", "the body is empty", status=400)
    return body


# --- redaction ------------------------------------------------------------------------------


def redact_report(report: Report, redact: Callable[[str, str], tuple[str, Mapping[str, int]]], *,
                  frame_memo: dict[Any, Any] | None = None) -> tuple[Report, dict[tuple[str, str], int]]:
    """Run ``redact(text, kind)`` over every string of ``report`` that is not a strict
    identifier (those match a pattern of the wire format: digests, ids, hours, codes, levels,
    ``client_stats`` keys); free text is normalised first (``normalise_free_text``).

    Returns the redacted report and hits keyed by ``(field, detector)``, where ``field`` is a
    fixed name (``message``, ``chain.message``, ``stack.file`` ...), never an index.
    ``frame_memo`` (one per policy) keeps redacted stack frames by a digest of their
    strings, so a frame seen before costs one hash instead of two redactions; the result
    is the same.
    """
    hits: Counter[tuple[str, str]] = Counter()

    def run(text: str | None, field: str, kind: str, into: Counter[tuple[str, str]] = hits) -> str | None:
        if text is None:
            return None
        clean, found = redact(text, kind)
        for detector, count in found.items():
            if count:
                into[(field, detector)] += count
        return clean

    def remember(key: Any, value: Any) -> None:
        assert frame_memo is not None
        if len(frame_memo) >= REDACT_MEMO_ENTRIES:
            frame_memo.clear()
        frame_memo[key] = value

    def frame(f: Any, prefix: str) -> Any:
        if frame_memo is None:
            return dataclasses.replace(f, file=run(f.file, f"{prefix}.file", "path"),
                                       function=run(f.function, f"{prefix}.function", "message"))
        key = (prefix, _digest(f.file, f.function), f.line, f.in_app)
        hit = frame_memo.get(key)
        if hit is None:
            own: Counter[tuple[str, str]] = Counter()
            done = dataclasses.replace(f, file=run(f.file, f"{prefix}.file", "path", own),
                                       function=run(f.function, f"{prefix}.function", "message", own))
            hit = (done, tuple(own.items()))
            remember(key, hit)
        for name, count in hit[1]:
            hits[name] += count
        return hit[0]

    def frames(stack: Any, prefix: str) -> Any:
        if stack is None:
            return None
        key = _stack_key(prefix, stack.frames) if frame_memo is not None else None
        hit = frame_memo.get(key) if key is not None else None  # type: ignore[union-attr]
        if hit is None:
            before = Counter(hits)
            done = tuple(frame(f, prefix) for f in stack.frames)
            hit = (done, tuple((hits - before).items()))
            if key is not None:
                remember(key, hit)
        else:
            for name, count in hit[1]:
                hits[name] += count
        return replace_fields(stack, frames=hit[0])

    def environment(env: Any) -> Any:
        """The redacted environment; with ``frame_memo``, kept there by a digest of its five
        strings (they repeat across reports: one hash instead of five redactions)."""
        key = None
        if frame_memo is not None:
            texts = [getattr(env, name) for name in _field_names(env)]
            if all(type(text) is str for text in texts):
                key = ("environment", _digest(*texts))
                hit = frame_memo.get(key)
                if hit is not None:
                    for name, count in hit[1]:
                        hits[name] += count
                    return env if hit[0] is None else hit[0]
        own: Counter[tuple[str, str]] = Counter()
        values = {name: run(getattr(env, name), f"environment.{name}", "env", own) for name in _field_names(env)}
        done = replace_fields(env, **values) if any(values[name] != getattr(env, name) for name in values) else None
        hits.update(own)
        if key is not None:
            remember(key, (done, tuple(own.items())))
        return env if done is None else done

    def text(value: str | None, field: str) -> str | None:
        """Free text: normalised (line breaks kept, invisible formatting removed, other
        controls made visible), then redacted."""
        return None if value is None else run(normalise_free_text(value), field, "message")

    changes: dict[str, Any] = {
        "crash_type": run(report.crash_type, "crash_type", "message"),
        "message": text(report.message, "message"),
        "comment": text(report.comment, "comment"),
        "release": run(report.release, "release", "message"),
        "stack": frames(report.stack, "stack"),
    }
    if report.chain is not None:
        changes["chain"] = tuple(
            replace_fields(c, crash_type=run(c.crash_type, "chain.crash_type", "message"),
                           message=text(c.message, "chain.message"), stack=frames(c.stack, "chain.stack"))
            for c in report.chain)
    if report.breadcrumbs is not None:
        changes["breadcrumbs"] = tuple(
            replace_fields(b, category=run(b.category, "breadcrumbs.category", "message"),
                           message=text(b.message, "breadcrumbs.message"))
            for b in report.breadcrumbs)
    if report.environment is not None:
        changes["environment"] = environment(report.environment)
    return replace_fields(report, **changes), dict(hits)


def _field_names(value: Any) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _within(report: Report, allowlist: tuple[str, ...]) -> bool:
    """Whether ``report.restricted_to(allowlist)`` would change nothing (checked without
    building the field list and the copy it makes): every field it carries is allowed (or
    required), and no chain message goes with a disallowed ``message``."""
    for name in REPORT_FIELDS:
        if name not in allowlist and name not in REQUIRED_FIELDS and getattr(report, name) is not None:
            return False
    return "message" in allowlist or not report.chain


def _digest(*texts: str) -> bytes:
    """A 128-bit BLAKE2b digest of ``texts``, each length-prefixed (no two tuples collide by
    moving text from one string to the next)."""
    h = hashlib.blake2b(digest_size=16)
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.digest()


def _stack_key(prefix: str, frames: tuple[Any, ...]) -> tuple[str, bytes] | None:
    """The memo key of a whole stack: a digest of its frames as JSON (unambiguous), or
    ``None`` if msgspec cannot encode it (a lone surrogate: redact frame by frame)."""
    try:
        encoded = msgspec.json.encode(frames)
    except (msgspec.EncodeError, UnicodeEncodeError, TypeError):
        return None
    return (f"{prefix}[]", hashlib.blake2b(encoded, digest_size=16).digest())


# --- deletion requests ----------------------------------------------------------------------


def parse_deletion_request(payload: bytes) -> tuple[str, tuple[str, ...]]:
    """``(request_id, install_ids)`` of an opened deletion request; strict, 400 otherwise."""
    def bad(field: str | None, message: str) -> ReportRejected:
        return reject("bad_deletion_request", message, status=400, field=field)

    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad(None, "the deletion request is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise bad(None, "expected an object")
    extra = sorted(k for k in data if k not in ("request_id", "install_ids"))
    if extra:
        raise bad(None, "unknown keys in the deletion request (expected request_id and install_ids)")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _UUID4_RE.match(request_id):
        raise bad("request_id", "expected a lower-case UUID4")
    ids = data.get("install_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_DELETION_IDS:
        raise bad("install_ids", f"expected an array of 1 to {MAX_DELETION_IDS} install ids")
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not _PSEUDONYM_RE.match(value):
            raise bad(f"install_ids[{index}]", "expected 32 lower-case hex digits")
    return request_id, tuple(dict.fromkeys(ids))


# --- group commit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A report ready to store, and what to count once it is committed."""

    pending: Any  # a storage.StoreRow (storage.PendingReport for a storage without rows)
    unknown: tuple[str, ...]
    not_allowed: tuple[str, ...]
    hits: Mapping[tuple[str, str], int]


_STOP = object()


class GroupCommitter:
    """Group commit: one writer thread stores whatever is queued in one transaction.

    ``submit`` enqueues a prepared report and returns a future. The writer takes the first
    queued report, everything else already queued (up to ``max_batch``; with
    ``max_wait_s`` > 0 it also waits that long for more), calls ``store_many`` once (one
    transaction, one fsync) and then resolves every future of the batch: with the report's
    ``StoreResult`` after the commit, or with the exception if the batch failed, so a 201 is
    only ever sent for a committed report and a storage failure answers 503 to each.
    While one batch commits the next one queues, so batches grow with the load by
    themselves; an idle server commits a lone report at once.

    If ``store_many`` takes ``more`` and ``sql_done`` arguments (``Storage.store_rows``
    does), it calls ``more`` once it holds the database's write lock, and the reports
    queued meanwhile join the batch: with several processes over one SQLite file, a writer
    that waited for the lock commits everything that arrived during the wait in the same
    fsync. From then until ``sql_done`` (the statements ran, the COMMIT is left)
    :attr:`writing` is true, and the event loop holds back new CPU work
    (:meth:`writer_pause`): the lock is the one thing every process waits for, and a
    writer that must win the GIL back from the loop at each statement holds it for
    several times its own CPU time.
    """

    def __init__(self, store_many: Callable[..., list[Any]], *, max_batch: int = 256,
                 max_wait_s: float = 0.0) -> None:
        import inspect
        import queue
        import threading

        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store_many = store_many
        try:
            params = inspect.signature(store_many).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._late_joiners = "more" in params and "sql_done" in params
        #: True while the writer holds the write lock and runs its statements.
        self.writing = False
        self._pauses: list[tuple[Any, Any]] = []
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.stored = 0

    def submit(self, pending: Any) -> Any:
        """Queue ``pending``; a ``concurrent.futures.Future`` of its ``StoreResult``."""
        from concurrent.futures import Future

        future: Future[Any] = Future()
        self._put(pending, future)
        return future

    def submit_async(self, pending: Any) -> asyncio.Future[Any]:
        """Queue ``pending`` from the running event loop; an ``asyncio.Future`` of its
        ``StoreResult``. The writer settles all of a batch's futures of one loop with one
        ``call_soon_threadsafe`` (one wake-up per batch, not one per report)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(pending, (loop, future))
        return future

    def _put(self, pending: Any, waiter: Any) -> None:
        with self._lock:
            if self._closed:
                from crashveil.errors import StorageError

                raise StorageError("the server is shutting down")
            if self._thread is None:
                import threading

                self._thread = threading.Thread(target=self._run, name="crashveil-group-commit", daemon=True)
                self._thread.start()
            self._queue.put((pending, waiter))

    def close(self, timeout: float | None = 30.0) -> None:
        """Store what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _take(self) -> tuple[list[Any], bool]:
        """The next batch: the first queued report (waited for), then what else is queued,
        waiting up to ``max_wait_s`` for more; ``([], True)`` when told to stop."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        return [first] + self._drain(self.max_batch - 1, deadline=time.monotonic() + self.max_wait_s), False

    async def writer_pause(self) -> None:
        """Return when the writer is not running statements (at once if it is not)."""
        if not self.writing:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if not self.writing:
                return
            self._pauses.append((loop, future))
        await future

    def _sql_done(self) -> None:
        """The writer's statements ran: let the paused event loops go on."""
        with self._lock:
            self.writing = False
            pauses, self._pauses = self._pauses, []
        for loop, future in pauses:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # the loop is closed
                pass

    def _drain(self, room: int, *, deadline: float | None = None) -> list[Any]:
        """Up to ``room`` queued reports; with a ``deadline`` (monotonic) it waits until then
        for more, else not at all. A queued stop stays queued (the writer stops after this
        batch)."""
        import queue

        items: list[Any] = []
        while len(items) < room:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = 0.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            items.append(item)
        return items

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if stop:
                return
            live = _live(batch)
            if not live:
                continue
            joined: list[tuple[Any, Any]] = []
            asked: list[bool] = []

            def more(live: list[tuple[Any, Any]] = live, joined: list[tuple[Any, Any]] = joined,
                     asked: list[bool] = asked) -> list[Any]:
                self.writing = True
                if not asked:  # once: a second call (a retry) gets the same reports
                    asked.append(True)
                    joined.extend(_live(self._drain(self.max_batch - len(live))))
                return [p for p, _ in joined]

            try:
                if self._late_joiners:
                    results: list[Any] = self._store_many([p for p, _ in live], more=more,
                                                          sql_done=self._sql_done)
                else:
                    results = self._store_many([p for p, _ in live])
                failure: BaseException | None = None
            except BaseException as exc:  # noqa: BLE001 - every future of the batch fails with it (503)
                results, failure = [], exc
            finally:
                self._sql_done()
            live += joined
            if failure is None and len(results) != len(live):
                failure = RuntimeError("the store answered for a different number of reports")
            if failure is not None:
                results = [None] * len(live)
            else:
                self.batches += 1
                self.stored += len(live)
            by_loop: dict[Any, list[tuple[Any, Any]]] = {}
            for (_, waiter), result in zip(live, results, strict=False):
                if isinstance(waiter, tuple):
                    by_loop.setdefault(waiter[0], []).append((waiter[1], result))
                elif failure is not None:
                    waiter.set_exception(failure)
                else:
                    waiter.set_result(result)
            for loop, settled in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled, failure)
                except RuntimeError:  # the loop is closed: nobody waits for these answers
                    pass


def _wake(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


def _live(batch: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """The queued reports still wanted. A cancelled concurrent future is not stored; an
    asyncio one is stored anyway (its state belongs to its loop's thread) and its answer
    dropped by _settle."""
    return [(p, w) for p, w in batch if isinstance(w, tuple) or w.set_running_or_notify_cancel()]


def _settle(settled: list[tuple[asyncio.Future[Any], Any]], failure: BaseException | None) -> None:
    """Resolve a batch's asyncio futures (in their loop's thread)."""
    for future, result in settled:
        if future.done():
            continue  # cancelled: the request is gone
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(result)


# --- group commit across processes -----------------------------------------------------------
#
# With several server processes over one SQLite file, one *writer process* stores the rows
# every front process prepared (``run.py`` starts them; each front has one socket of a
# socketpair to the writer). A commit then carries every report that is ready in any front,
# and the writer, which runs nothing else, holds the write lock for its SQL and fsync only.
# Frames on the sockets: a 4-byte big-endian length, then a pickle of
# ``(sequence number, rows)`` one way and ``(sequence number, results or an error string)``
# the other. Pickle is safe here: both ends are this server's processes, joined by an
# inherited socketpair that nothing else can reach.

_FRAME_HEADER = struct.Struct(">I")
#: Rows in one frame at most; a row is at most ~130 KiB (a 64 KiB report, its sealed copy).
ROWS_PER_FRAME = 128
#: A frame longer than this is a broken peer.
MAX_FRAME_BYTES = 64 * 1024 * 1024


def _frame(value: Any) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME_HEADER.pack(len(payload)) + payload


def _frames(buffer: bytearray) -> list[Any]:
    """The complete frames at the start of ``buffer`` (removed from it), unpickled."""
    out = []
    while len(buffer) >= _FRAME_HEADER.size:
        (size,) = _FRAME_HEADER.unpack_from(buffer)
        if size > MAX_FRAME_BYTES:
            raise ValueError("a frame longer than MAX_FRAME_BYTES")
        end = _FRAME_HEADER.size + size
        if len(buffer) < end:
            break
        out.append(pickle.loads(bytes(buffer[_FRAME_HEADER.size:end])))  # our own process
        del buffer[:end]
    return out


class WriterClient(asyncio.Protocol):
    """A front process's committer: rows go to the writer process, answers come back.

    The same interface as :class:`GroupCommitter` for the event loop (``submit_async``,
    ``writing``, ``writer_pause``). Rows submitted in one turn of the loop go in one frame;
    the writer answers each frame after the commit that stored it, so a 201 still means
    committed. If the writer goes away, every waiting request and every later one fails
    with :class:`~crashveil.errors.StorageError` (503: the SDK keeps the report).
    """

    writing = False  # the writer runs in its own process: nothing to hold back here

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._queued: list[tuple[Any, asyncio.Future[Any]]] = []
        self._waiting: dict[int, list[asyncio.Future[Any]]] = {}
        self._sequence = 0
        self._buffer = bytearray()
        self._gone: str | None = "not connected to the writer process"

    async def connect(self, sock: socket.socket) -> None:
        """Use ``sock`` (this front's end of the socketpair) on the running loop."""
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: self, sock=sock)

    async def writer_pause(self) -> None:
        return None

    def submit_async(self, row: Any) -> asyncio.Future[Any]:
        if self._gone is not None:
            from crashveil.errors import StorageError

            raise StorageError(self._gone)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((row, future))
        return future

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        if not queued or self._transport is None:
            return
        for start in range(0, len(queued), ROWS_PER_FRAME):
            chunk = queued[start:start + ROWS_PER_FRAME]
            self._sequence += 1
            self._waiting[self._sequence] = [future for _, future in chunk]
            self._transport.write(_frame((self._sequence, [row for row, _ in chunk])))

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._gone = None

    def data_received(self, data: bytes) -> None:
        from crashveil.errors import StorageError

        self._buffer += data
        for sequence, answer in _frames(self._buffer):
            futures = self._waiting.pop(sequence, [])
            failure = StorageError(answer) if isinstance(answer, str) else None
            for index, future in enumerate(futures):
                if future.done():
                    continue  # cancelled: the request is gone
                if failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(answer[index])

    def connection_lost(self, exc: Exception | None) -> None:
        from crashveil.errors import StorageError

        self._gone = "the writer process is gone"
        self._transport = None
        waiting, self._waiting = self._waiting, {}
        queued, self._queued = self._queued, []
        for future in [f for futures in waiting.values() for f in futures] + [f for _, f in queued]:
            if not future.done():
                future.set_exception(StorageError(self._gone))


def serve_writer(store_rows: Callable[[list[Any]], list[Any]], sockets: list[socket.socket], *,
                 max_batch: int = 512) -> None:
    """The writer process's loop: store what the fronts send, answer after each commit.

    Waits for rows on any socket, takes every complete frame that is there (up to about
    ``max_batch`` rows), stores them with one ``store_rows`` call (one transaction, one
    fsync) and answers each frame. Returns when every front has closed its socket, so rows
    sent before a front shut down are stored and answered first.
    """
    import selectors

    from crashveil.errors import StorageError

    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for sock in sockets:
        sock.setblocking(True)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = bytearray()
    while buffers:
        work: list[tuple[socket.socket, int, list[Any]]] = []
        count = 0
        timeout: float | None = None
        while count < max_batch and buffers:
            events = selector.select(timeout)
            if not events:
                break
            for key, _ in events:
                sock = key.fileobj  # type: ignore[assignment]
                data = sock.recv(1 << 20)
                if not data:
                    selector.unregister(sock)
                    del buffers[sock]
                    sock.close()
                    continue
                buffers[sock] += data
                for sequence, rows in _frames(buffers[sock]):
                    work.append((sock, sequence, rows))
                    count += len(rows)
            timeout = 0 if work else None  # then take what else is ready, without waiting
        if not work:
            continue
        answers: list[Any]
        try:
            results = store_rows([row for _, _, rows in work for row in rows])
            answers, start = [], 0
            for _, _, rows in work:
                answers.append(results[start:start + len(rows)])
                start += len(rows)
        except StorageError as exc:
            answers = [str(exc)] * len(work)
        except Exception as exc:  # noqa: BLE001 - the fronts answer 503; the cause is logged here
            _log_writer_failure(exc)
            answers = [f"the writer failed ({type(exc).__name__})"] * len(work)
        for (sock, sequence, _), answer in zip(work, answers, strict=False):
            if sock in buffers:
                try:
                    sock.sendall(_frame((sequence, answer)))
                except OSError:
                    pass  # that front is gone; its requests went with it


def _log_writer_failure(exc: BaseException) -> None:
    """The exception's type only: its text may quote SQL parameters, that is report content."""
    import logging

    logging.getLogger("crashveil.server").error("writer: storing a batch failed (%s)", type(exc).__name__)


# --- the pipeline ---------------------------------------------------------------------------


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    """A background data-key lookup that failed is tried again later (the writer seals)."""
    if not future.cancelled():
        future.exception()


def _parse_hour(value: str) -> datetime:
    hour = _hour_or_none(value)
    if hour is None:
        raise reject("bad_format", "not a valid hour (YYYY-MM-DDTHH:00Z)", field="occurred_hour")
    return hour


@functools.lru_cache(maxsize=4096)
def _hour_or_none(value: str) -> datetime | None:
    """``strptime`` costs ~15 us and reports of one hour all carry the same string."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
    except ValueError:
        return None


class Ingestor:
    """The ingest pipeline of one app: limiters, redactors per policy, storage, metrics.

    ``ingest`` and ``delete`` are synchronous (HPKE, parsing, the database): the app runs
    them in a worker thread. The limiters are thread-safe.
    """

    def __init__(self, settings: Settings, storage: Any, metrics: Metrics, *,
                 now: Callable[[], datetime], clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = metrics
        #: The audit trail erasures are recorded in (set by create_app over a real Storage).
        self.audit: Any = None
        self._now = now
        self.project_limiter = KeyedLimiter(settings.project_rate_per_s, settings.project_burst, clock=clock,
                                            max_keys=10_000)
        self.pseudonym_limiter = KeyedLimiter(settings.pseudonym_rate_per_hour / 3600.0,
                                              settings.pseudonym_rate_per_hour, clock=clock)
        # What reports of counts-only groups are charged instead of their project's bucket
        # (see ``finish``): the project's rate and burst per (project, group).
        self.counts_only_limiter = KeyedLimiter(settings.project_rate_per_s, settings.project_burst, clock=clock,
                                                max_keys=10_000)
        self._redactors: dict[str, Any] = {}
        self._frame_memos: dict[str, dict[Any, Any]] = {}
        self._allowlists: dict[tuple[str, str], tuple[str, ...]] = {}
        self._key_lookups: dict[tuple[str, str], float] = {}
        self.committer: GroupCommitter | None = None

    def check_project_rate(self, project_id: str) -> None:
        """429 when the project's bucket is empty (before the body is read)."""
        wait = self.project_limiter.take(project_id)
        if wait:
            raise Throttled("project", retry_after_header(wait))

    def project(self, project_id: str) -> Any:
        record = self.storage.project(project_id)
        if record is None:
            raise unknown_project()
        return record

    def open(self, project: Any, sealed: bytes) -> bytes:
        from crashveil.server.keys.crypto import open_report

        return open_report(sealed, project.keypairs, project_id=project.id, schema_version=SCHEMA_VERSION)

    def ingest(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Accepted:
        """Open, validate, minimise, redact and store one report; see the module docstring.

        Synchronous: with a running :class:`GroupCommitter` the report joins the next group
        commit and this call waits for it; otherwise it is stored alone.
        """
        prepared = self.prepare(project_id, sealed, credential=credential)
        return self.finish(prepared, self.commit_sync(prepared.pending))

    async def ingest_async(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Accepted:
        """:meth:`ingest` for the event loop; the group commit is awaited without a thread.

        A body of at most :data:`INLINE_PREPARE_BYTES` from a project already cached is
        prepared on the loop itself: that is ~0.2 ms of CPU, which a worker thread would not
        run in parallel (the GIL) and whose two thread hops cost more than the work. Larger
        bodies, and project lookups that may read the database, go to a worker thread so
        the loop keeps answering. ``credential`` is who sent it (``peer.PeerCredential``):
        it weighs the report toward the group's counts-only threshold.
        """
        from starlette.concurrency import run_in_threadpool

        cached = getattr(self.storage, "cached_project", None)
        project = cached(project_id) if cached is not None and len(sealed) <= INLINE_PREPARE_BYTES else None
        committer = self.committer
        if project is not None:
            if getattr(committer, "writing", False):
                await committer.writer_pause()
            prepared = self.prepare_for(project, sealed, credential=credential)
        else:
            prepared = await run_in_threadpool(functools.partial(self.prepare, project_id, sealed,
                                                                 credential=credential))
        return self.finish(prepared, await self.commit(prepared.pending))

    async def commit(self, row: Any) -> Any:
        """Store one prepared row by group commit (or alone without a committer); its
        ``StoreResult`` once its transaction committed. The Sentry routes use it too."""
        from starlette.concurrency import run_in_threadpool

        self._learn_data_key(row)
        committer = self.committer
        if committer is None:
            return (await run_in_threadpool(self._store, [row]))[0]
        return await committer.submit_async(row)

    def commit_sync(self, row: Any) -> Any:
        """:meth:`commit` from a worker thread (the in-process writer only)."""
        committer = self.committer
        if isinstance(committer, GroupCommitter):
            return committer.submit(row).result()
        if committer is None:
            return self._store([row])[0]
        raise RuntimeError("storing from a thread needs the in-process writer")

    def frame_memo(self, digest: str) -> dict[Any, Any]:
        """The stack memo of a policy (see :func:`redact_report`)."""
        return self._frame_memos.setdefault(digest, {})

    def _learn_data_key(self, row: Any) -> None:
        """A row without a sealed detail: the day's data key is not known here (a front
        process, or the first report of a day). Read it in the background, at most every
        few seconds per day, so the next rows are sealed here and not in the writer."""
        if getattr(row, "sealed", True) is not None or not hasattr(self.storage, "learn_data_key"):
            return
        key = (row.project_id, row.day)
        now = time.monotonic()
        if now - self._key_lookups.get(key, -1e9) < DATA_KEY_RETRY_S:
            return
        if len(self._key_lookups) > 1024:
            self._key_lookups.clear()
        self._key_lookups[key] = now
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.storage.learn_data_key, *key)
        future.add_done_callback(_ignore_failure)

    def prepare(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Prepared:
        """Everything before the store: open, validate, minimise, redact."""
        return self.prepare_for(self.project(project_id), sealed, credential=credential)

    def prepare_for(self, project: Any, sealed: bytes, *, credential: str | None = None) -> Prepared:
        """:meth:`prepare` for a project record already looked up."""
        from crashveil.server.storage.store import PendingReport

        report, unknown = decode_report(self.open(project, sealed), drop_unknown=True)
        policy = project.policies.get(report.policy_digest)
        if policy is None:
            raise reject("unknown_policy_digest", "the report was built under a policy this project does not have",
                         field="policy_digest")
        try:
            rank = policy.rank(report.consent_level)
        except KeyError:
            raise reject("unknown_consent_level", "the policy has no such consent level",
                         field="consent_level") from None
        if rank == 0:
            raise reject("consent_off", "a report at consent level off is never accepted", field="consent_level")
        received_at = self._now()
        if report.occurred_hour is not None:
            hour = _parse_hour(report.occurred_hour)
            if (hour + timedelta(hours=1) < received_at - timedelta(seconds=self.settings.replay_window_s)
                    or hour > received_at + FUTURE_SLACK):
                raise outside_window()
        if report.install_id is not None:
            wait = self.pseudonym_limiter.take(f"{project.id}/{report.install_id}")
            if wait:
                raise Throttled("installation", retry_after_header(wait))
        allowlist = self._allowlist(report.policy_digest, policy, report.consent_level)
        allowed = report if _within(report, allowlist) else report.restricted_to(allowlist)
        not_allowed: tuple[str, ...] = ()
        if allowed is not report:
            not_allowed = tuple(sorted(set(report.present_fields()) - set(allowed.present_fields())))
        if allowed.chain and "message" not in allowlist and any(c.message is not None for c in report.chain or ()):
            not_allowed += ("chain.message",)
        redacted, hits = redact_report(allowed, self._redactor(report.policy_digest, policy),
                                       frame_memo=self._frame_memos.setdefault(report.policy_digest, {}))
        pending = PendingReport(project.id, redacted, ORIGIN, received_at, hits, tuple(unknown) + not_allowed,
                                credential)
        row = getattr(self.storage, "row", None)
        # fingerprint, detail JSON, encryption: here, not in the writer's transaction
        return Prepared(row(pending) if row is not None else pending, tuple(unknown), not_allowed, hits)

    def _store(self, items: list[Any]) -> list[Any]:
        """Store prepared items in one transaction, without the group-commit writer."""
        store_rows = getattr(self.storage, "store_rows", None)
        return store_rows(items) if store_rows is not None else self.storage.store_reports(items)

    def _allowlist(self, digest: str, policy: Policy, level: str) -> tuple[str, ...]:
        """``policy.fields_at(level)``, kept per (policy, level)."""
        key = (digest, level)
        fields = self._allowlists.get(key)
        if fields is None:
            if len(self._allowlists) > 1024:
                self._allowlists.clear()
            fields = self._allowlists[key] = policy.fields_at(level)
        return fields

    def finish(self, prepared: Prepared, result: Any) -> Accepted:
        """Count what was stored (only after the commit: a 503 leaves the counters untouched)."""
        if getattr(result, "refused", False):
            raise outside_window()
        self.metrics.count_dropped(prepared.unknown, "unknown")
        self.metrics.count_dropped(prepared.not_allowed, "not_allowed")
        for (field, detector), count in prepared.hits.items():
            self.metrics.redaction_hits.labels(field, detector).inc(count)
        self.metrics.accepted.labels("created" if result.created else "retry").inc()
        if getattr(result, "counts_only", False):
            self._charge_counts_only(prepared.pending.project_id, result.group_id)
        return Accepted(receipt=result.receipt, created=bool(result.created),
                        counts_only=bool(getattr(result, "counts_only", False)))

    def _charge_counts_only(self, project_id: str, group_id: Any) -> None:
        """Move a counts-only report's token from its project's bucket to its group's.

        The project bucket is taken before the body is opened (the group is not known yet),
        so without this a mass failure would use up the project's budget and its other groups
        would be refused with 429 until it passed. A report of a group in counts-only mode is
        charged to that group's own bucket (the project's rate and burst) instead. While that
        bucket has tokens the project's token is given back; once it is empty the flood
        competes for the project's tokens again, so a flood (or a sender with the DSN posing
        as one) gets at most twice the project's rate.
        """
        if not self.counts_only_limiter.take(f"{project_id}/{group_id}"):
            self.project_limiter.refund(project_id)

    def start_group_commit(self, *, max_batch: int = 256, max_wait_s: float = 0.0) -> GroupCommitter:
        """Store reports through one writer thread with group commit (see :class:`GroupCommitter`)."""
        if self.committer is None:
            store = getattr(self.storage, "store_rows", None) or self.storage.store_reports
            self.committer = GroupCommitter(store, max_batch=max_batch, max_wait_s=max_wait_s)
        return self.committer

    def close(self) -> None:
        """Stop the group-commit writer after it stored what was queued."""
        committer, self.committer = self.committer, None
        if committer is not None:
            committer.close()

    def _redactor(self, digest: str, policy: Policy) -> Callable[[str, str], tuple[str, Mapping[str, int]]]:
        """``redact(text, kind)`` under the policy's detectors, memoised.

        Redaction is a pure function of (text, kind) for one policy, and most strings of a
        report repeat across reports (stack frames' files and functions: ~60 of a 30-frame
        report's ~67 strings), so results are kept per policy in a bounded memo. Its keys are
        BLAKE2b digests of kind and text, not the text, so no unredacted string is kept
        after its request; values are the redacted text and the hit counts. The output is
        exactly what the redactor returns.
        """
        cached = self._redactors.get(digest)
        if cached is not None:
            return cached
        from crashveil.redact import Redactor

        redactor = Redactor(policy.redaction.detectors, policy.redaction.placeholders)
        memo: dict[bytes, tuple[str, Mapping[str, int]]] = {}

        def run(text: str, kind: str) -> tuple[str, Mapping[str, int]]:
            if len(text) > REDACT_MEMO_MAX_CHARS:
                return redactor.redact_counted(text, kind=kind)
            key = hashlib.blake2b(f"{kind}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
            hit = memo.get(key)
            if hit is None:
                clean, found = redactor.redact_counted(text, kind=kind)
                hit = (clean, dict(found))
                if len(memo) >= REDACT_MEMO_ENTRIES:
                    memo.clear()
                memo[key] = hit
            return hit

        self._redactors[digest] = run
        return run

    def delete(self, project_id: str, sealed: bytes) -> dict[str, Any]:
        """Open and process a sealed deletion request; the signed confirmation to return.

        The answer is the same whether the pseudonyms had reports or not: it names the request,
        the project and when it was processed, never how many reports went. Nothing in the
        request proves that it comes from the installation (the SDK destroys the install
        secret before it sends it, and anyone with the DSN can seal one), so a count would
        tell anyone who knows a pseudonym whether it has reports; the count is kept in the
        audit trail (and ``deletion_requests``) only.
        """
        import base64

        project = self.project(project_id)
        request_id, install_ids = parse_deletion_request(self.open(project, sealed))
        if self.audit is not None:  # the real server: the erasure goes to the audit trail too
            from crashveil.server.governance.erasure import erase_installs

            record = erase_installs(self.storage, self.audit, project.id, request_id, install_ids, now=self._now())
        else:
            record = self.storage.process_deletion_request(project.id, request_id, install_ids, now=self._now())
        signed = canonical_json({"request_id": record.request_id, "project_id": record.project_id,
                                 "processed_at": record.processed_at})
        signature = project.signing_key.sign(signed)
        self.metrics.deletions.inc()
        return {
            "request_id": request_id,
            "status": "processed",
            "record": base64.urlsafe_b64encode(signed).rstrip(b"=").decode(),
            "confirmation": base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
        }
