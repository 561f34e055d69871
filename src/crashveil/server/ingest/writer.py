"""Group commit across processes: the front processes' client and the writer process's loop.

With several server processes over one SQLite file, one *writer process* stores the rows
every front process prepared (``run.py`` starts them; each front has one socket of a
socketpair to the writer). A commit then carries every report that is ready in any front,
and the writer, which runs nothing else, holds the write lock for its SQL and fsync only.
Frames on the sockets: a 4-byte big-endian length, then a pickle of
``(sequence number, rows)`` one way and ``(sequence number, results or an error string)``
the other. Pickle is safe here: both ends are this server's processes, joined by an
inherited socketpair that nothing else can reach.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from crashveil.server.storage.records import StoreResult, StoreRow

__all__ = ["MAX_FRAME_BYTES", "ROWS_PER_FRAME", "WriterClient", "serve_writer"]

_FRAME_HEADER = struct.Struct(">I")
#: Rows in one frame at most; a row is at most ~130 KiB (a 64 KiB report, its sealed copy).
ROWS_PER_FRAME = 128
#: A frame longer than this is a broken peer.
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: A front's frame: (sequence number, rows to store).
Rows: TypeAlias = "tuple[int, list[StoreRow]]"
#: The writer's answer: (sequence number, the rows' results in order, or why storing failed).
Answer: TypeAlias = "tuple[int, list[StoreResult] | str]"


def _frame(value: Rows | Answer) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME_HEADER.pack(len(payload)) + payload


def _frames(buffer: bytearray) -> list[Any]:
    """The complete frames at the start of ``buffer`` (removed from it), unpickled (a
    :data:`Rows` or an :data:`Answer`, by the direction the caller reads)."""
    out = []
    while len(buffer) >= _FRAME_HEADER.size:
        (size,) = _FRAME_HEADER.unpack_from(buffer)
        if size > MAX_FRAME_BYTES:
            raise ValueError("a frame longer than MAX_FRAME_BYTES")
        end = _FRAME_HEADER.size + size
        if len(buffer) < end:
            break
        out.append(pickle.loads(bytes(buffer[_FRAME_HEADER.size:end])))
        del buffer[:end]
    return out


class WriterClient(asyncio.Protocol):
    """A front process's committer: rows go to the writer process, answers come back.

    The same interface as :class:`~crashveil.server.ingest.commit.GroupCommitter` for the event loop (``submit_async``,
    ``writing``, ``writer_pause``). Rows submitted in one turn of the loop go in one frame;
    the writer answers each frame after the commit that stored it, so a 201 still means
    committed. If the writer goes away, every waiting request and every later one fails
    with :class:`~crashveil.errors.StorageError` (503: the SDK keeps the report).
    """

    writing = False  # the writer runs in its own process: nothing to hold back here

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._queued: list[tuple[StoreRow, asyncio.Future[StoreResult]]] = []
        self._waiting: dict[int, list[asyncio.Future[StoreResult]]] = {}
        self._sequence = 0
        self._buffer = bytearray()
        self._gone: str | None = "not connected to the writer process"

    async def connect(self, sock: socket.socket) -> None:
        """Use ``sock`` (this front's end of the socketpair) on the running loop."""
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: self, sock=sock)

    async def writer_pause(self) -> None:
        return None

    def submit_async(self, row: StoreRow) -> asyncio.Future[StoreResult]:
        if self._gone is not None:
            from crashveil.errors import StorageError

            raise StorageError(self._gone)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoreResult] = loop.create_future()
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
        answers: list[Answer] = _frames(self._buffer)
        for sequence, answer in answers:
            futures = self._waiting.pop(sequence, [])
            for index, future in enumerate(futures):
                if future.done():
                    continue  # cancelled: the request is gone
                if isinstance(answer, str):
                    future.set_exception(StorageError(answer))
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


def serve_writer(store_rows: Callable[[list[StoreRow]], list[StoreResult]], sockets: list[socket.socket], *,
                 max_batch: int = 512) -> None:
    """The writer process's loop: store what the fronts send, answer after each commit.

    Waits for rows on any socket, takes every complete frame that is there (up to about
    ``max_batch`` rows), stores them with one ``store_rows`` call (one transaction, one
    fsync) and answers each frame. Returns when every front has closed its socket, so rows
    sent before a front shut down are stored and answered first.
    """
    import selectors


    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for sock in sockets:
        sock.setblocking(True)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = bytearray()
    while buffers:
        work: list[tuple[socket.socket, int, list[StoreRow]]] = []
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
                frames: list[Rows] = _frames(buffers[sock])
                for sequence, rows in frames:
                    work.append((sock, sequence, rows))
                    count += len(rows)
            timeout = 0 if work else None  # then take what else is ready, without waiting
        if not work:
            continue
        answers = _store_frames(store_rows, [rows for _, _, rows in work])
        for (sock, sequence, _), answer in zip(work, answers, strict=True):
            if sock in buffers:
                try:
                    sock.sendall(_frame((sequence, answer)))
                except OSError:
                    pass  # that front is gone; its requests went with it


def _store_frames(store_rows: Callable[[list[StoreRow]], list[StoreResult]],
                  frames: list[list[StoreRow]]) -> list[list[StoreResult] | str]:
    """Store the rows of ``frames`` in one call; each frame's results, or why storing failed."""
    from crashveil.errors import StorageError

    try:
        results = store_rows([row for rows in frames for row in rows])
    except StorageError as exc:
        return [str(exc)] * len(frames)
    except Exception as exc:  # noqa: BLE001 - the fronts answer 503; the cause is logged here
        _log_writer_failure(exc)
        return [f"the writer failed ({type(exc).__name__})"] * len(frames)
    answers: list[list[StoreResult] | str] = []
    start = 0
    for rows in frames:
        answers.append(results[start:start + len(rows)])
        start += len(rows)
    return answers


def _log_writer_failure(exc: BaseException) -> None:
    """The exception's type only: its text may quote SQL parameters, that is report content."""
    import logging

    logging.getLogger("crashveil.server").error("writer: storing a batch failed (%s)", type(exc).__name__)

