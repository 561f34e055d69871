"""The sender: decisions per server answer, backoff, rate limits, pacing, flush, threads, fork."""

from __future__ import annotations

import os
import random
import sys
import threading
from collections import deque
from pathlib import Path

import pytest

from crashveil.sdk.delivery.queue import QueueItem, QueueMeta, SealedQueue
from crashveil.sdk.delivery.sender import Sender
from crashveil.sdk.transport import HttpsTransport, SendResult

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from https_server import Pki, ReportServer, free_port, make_pki

T0 = 1_800_000_000.0


class Clock:
    """A fake clock whose sleep advances it (thread-safe enough for the tests)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t
        self.slept = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


class ScriptedTransport:
    """Answers from a script (then 201), recording (kind, bytes) of every send."""

    def __init__(self, *answers: SendResult) -> None:
        self.answers = deque(answers)
        self.sent: list[tuple[str, bytes]] = []

    def send(self, kind: str, sealed: bytes) -> SendResult:
        self.sent.append((kind, sealed))
        if self.answers:
            return self.answers.popleft()
        return SendResult(201, f"r-{len(self.sent)}", None)

    def fetch_config(self) -> bytes | None:
        return None


class DownTransport(ScriptedTransport):
    """Always fails as if the network were down."""

    def send(self, kind: str, sealed: bytes) -> SendResult:
        self.sent.append((kind, sealed))
        return SendResult(0)


class HangingTransport(ScriptedTransport):
    """Blocks in send until released, like a server that accepts and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def send(self, kind: str, sealed: bytes) -> SendResult:
        self.entered.set()
        self.release.wait(30)
        return SendResult(0)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates generated once for the module."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_queue(tmp_path: Path, clock: Clock | None = None) -> SealedQueue:
    kwargs = {"now": clock} if clock is not None else {}
    return SealedQueue(tmp_path / "queue", max_reports=30, max_bytes=2_000_000, max_age_days=30, **kwargs)


def put(queue: SealedQueue, payload: bytes, kind: str = "report", created: float = T0) -> str:
    return queue.put(payload, QueueMeta(kind=kind, crash_type="ValueError", level="crash", created=created))


def make_sender(queue: SealedQueue, transport: object, clock: Clock, **kwargs: object) -> Sender:
    return Sender(queue, transport, now=clock, sleep=clock.sleep, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


# -- decisions (driven step by step on a fake clock) ------------------------------------------

def test_success_removes_the_item_and_calls_on_sent(tmp_path: Path, clock: Clock) -> None:
    """A 201 removes the item and hands the item and result to on_sent."""
    queue = make_queue(tmp_path, clock)
    item_id = put(queue, b"one")
    seen: list[tuple[QueueItem, SendResult]] = []
    sender = make_sender(queue, ScriptedTransport(), clock, on_sent=lambda i, r: seen.append((i, r)))
    sender.step()
    assert [] == queue.items()
    assert [(item_id, SendResult(201, "r-1", None))] == [(i.id, r) for i, r in seen]


@pytest.mark.parametrize("status", [201, 200, 422])
def test_on_sent_runs_while_the_item_is_still_queued(tmp_path: Path, clock: Clock, status: int) -> None:
    """on_sent (the history's "sent" or "rejected") comes before the removal: a process killed
    between the two re-sends the item at its next start instead of never recording it."""
    queue = make_queue(tmp_path, clock)
    item_id = put(queue, b"one")
    queued_during: list[list[str]] = []
    sender = make_sender(queue, ScriptedTransport(SendResult(status, "r", None)), clock,
                         on_sent=lambda i, r: queued_during.append([item.id for item in queue.items()]))
    sender.step()
    assert ([[item_id]], []) == (queued_during, queue.items())


def test_items_go_oldest_first_with_their_kind(tmp_path: Path, clock: Clock) -> None:
    """Reports and deletion requests are sent oldest first, each with its kind; pending stay."""
    queue = make_queue(tmp_path, clock)
    for payload, kind in [(b"a", "report"), (b"p", "pending"), (b"d", "deletion"), (b"b", "report")]:
        clock.t += 1
        put(queue, payload, kind)
    transport = ScriptedTransport()
    sender = make_sender(queue, transport, clock)
    for _ in range(5):
        clock.t += 1
        sender.step()
    assert [("report", b"a"), ("deletion", b"d"), ("report", b"b")] == transport.sent
    assert ["pending"] == [item.meta.kind for item in queue.items()]


@pytest.mark.parametrize("status", [0, 500, 502, 504])
def test_network_errors_and_5xx_keep_the_item_and_back_off(tmp_path: Path, clock: Clock, status: int) -> None:
    """A failed send keeps the item and waits a jittered, doubling backoff before the next try."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"crash")
    transport = ScriptedTransport(*[SendResult(status)] * 4)
    sender = make_sender(queue, transport, clock)
    waits = []
    for _ in range(4):
        waits.append(sender.step())
        assert 0 < sender.step()  # too early: nothing is sent while backing off
        clock.t += waits[-1]
    assert 4 == len(transport.sent)
    assert 1 == len(queue.items())
    for n, wait in enumerate(waits, start=1):
        assert 0.5 * 2 ** (n - 1) <= wait < 2 ** (n - 1)
    sender.step()
    assert ([], 5) == (queue.items(), len(transport.sent))


def test_backoff_is_capped(tmp_path: Path, clock: Clock) -> None:
    """However many failures, one wait never exceeds 300 s."""
    sender = make_sender(make_queue(tmp_path, clock), DownTransport(), clock)
    assert all(sender.backoff_s(n) <= 300.0 for n in range(1, 200))
    assert 150.0 <= sender.backoff_s(100)


@pytest.mark.parametrize("status", [400, 413, 415, 422])
def test_rejected_items_are_dropped_counted_and_skipped(tmp_path: Path, clock: Clock, status: int) -> None:
    """A poison item (400/413/415/422) is dropped and counted, and the queue drains past it."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"poison")
    clock.t += 1
    put(queue, b"good")
    seen: list[int] = []
    transport = ScriptedTransport(SendResult(status))
    sender = make_sender(queue, transport, clock, on_sent=lambda i, r: seen.append(r.status))
    sender.step()
    clock.t += 1
    sender.step()
    assert [b"poison", b"good"] == [body for _, body in transport.sent]
    assert {f"rejected_{status}": 1} == queue.dropped
    assert [status, 201] == seen
    assert [] == queue.items()


@pytest.mark.parametrize("retry_after", [1.0, 60.0, 300.0])
def test_rate_limit_stops_draining_for_retry_after(tmp_path: Path, clock: Clock, retry_after: float) -> None:
    """A 429 keeps the item and no send happens until Retry-After has passed."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    put(queue, b"b")
    transport = ScriptedTransport(SendResult(429, None, retry_after))
    sender = make_sender(queue, transport, clock)
    assert retry_after == pytest.approx(sender.step())
    clock.t += retry_after - 0.5
    sender.step()
    assert 1 == len(transport.sent)
    clock.t += 0.5
    sender.step()
    assert 2 == len(transport.sent)
    assert 1 == len(queue.items())


def test_503_without_retry_after_waits_sixty_seconds(tmp_path: Path, clock: Clock) -> None:
    """A 503 whose transport gave no Retry-After still pauses 60 s."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    sender = make_sender(queue, ScriptedTransport(SendResult(503)), clock)
    assert 60.0 == pytest.approx(sender.step())


def test_limit_on_a_success_is_obeyed(tmp_path: Path, clock: Clock) -> None:
    """A 201 that carries Retry-After delivers the item and pauses the rest of the backlog."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    put(queue, b"b")
    transport = ScriptedTransport(SendResult(201, "r", 30.0))
    sender = make_sender(queue, transport, clock)
    assert 30.0 == pytest.approx(sender.step())
    clock.t += 10
    sender.step()
    assert (1, 1) == (len(transport.sent), len(queue.items()))


def test_backlog_is_paced_at_least_100_ms_apart(tmp_path: Path, clock: Clock) -> None:
    """Draining a backlog leaves at least 100 ms between two sends."""
    queue = make_queue(tmp_path, clock)
    for i in range(3):
        put(queue, bytes([i]))
    transport = ScriptedTransport()
    sender = make_sender(queue, transport, clock)
    assert 0.1 == pytest.approx(sender.step())
    clock.t += 0.05
    sender.step()
    assert 1 == len(transport.sent)
    clock.t += 0.05
    sender.step()
    assert 2 == len(transport.sent)


def test_damaged_item_is_skipped_without_sending(tmp_path: Path, clock: Clock) -> None:
    """A queue file damaged on disk is dropped by the queue and never reaches the transport."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"good")
    [item] = queue.items()
    item.path.write_bytes(item.path.read_bytes()[:-3])
    transport = ScriptedTransport()
    make_sender(queue, transport, clock).step()
    assert ([], {"corrupt": 1}) == (transport.sent, queue.dropped)


def test_on_sent_errors_do_not_stop_the_sender(tmp_path: Path, clock: Clock) -> None:
    """A failing on_sent callback is swallowed; the item is still removed."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")

    def broken(item: QueueItem, result: SendResult) -> None:
        raise RuntimeError("callback bug")

    make_sender(queue, ScriptedTransport(), clock, on_sent=broken).step()
    assert [] == queue.items()


def test_no_thread_until_woken(tmp_path: Path, clock: Clock) -> None:
    """Creating a sender starts no thread; wake() does."""
    queue = make_queue(tmp_path, clock)
    sender = make_sender(queue, ScriptedTransport(), clock)
    assert None is sender.thread
    sender.wake()
    assert True is (sender.thread is not None and sender.thread.daemon)
    sender.close()


# -- flush --------------------------------------------------------------------------------

def test_flush_returns_true_once_delivered(tmp_path: Path) -> None:
    """flush() waits for the thread to deliver everything and says so."""
    queue = make_queue(tmp_path)
    for i in range(3):
        put(queue, bytes([i]))
    transport = ScriptedTransport()
    sender = Sender(queue, transport)
    assert True is sender.flush(10.0)
    assert 3 == len(transport.sent)
    sender.close()


def test_flush_of_an_empty_queue_is_immediate(tmp_path: Path, clock: Clock) -> None:
    """With nothing to send flush() returns True without sleeping or starting a thread."""
    sender = make_sender(make_queue(tmp_path, clock), ScriptedTransport(), clock)
    assert (True, 0.0, None) == (sender.flush(2.0), clock.slept, sender.thread)


def test_flush_is_bounded_while_the_server_hangs(tmp_path: Path, clock: Clock) -> None:
    """A send that never returns cannot hold flush(2.0) beyond 2 s of the clock."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    transport = HangingTransport()
    sender = make_sender(queue, transport, clock)
    try:
        assert False is sender.flush(2.0)
        assert 2.0 == pytest.approx(clock.slept, abs=0.03)
        assert 1 == len(queue.items())
    finally:
        transport.release.set()
        sender.close()


def test_flush_is_bounded_while_offline(tmp_path: Path, clock: Clock) -> None:
    """While the network is down flush(2.0) gives up within 2 s of the clock and keeps the item."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    transport = DownTransport()
    sender = make_sender(queue, transport, clock)
    try:
        assert False is sender.flush(2.0)
        assert clock.slept <= 2.0 + 1e-3  # float rounding of an epoch-sized clock
        assert 1 == len(queue.items())
    finally:
        sender.close()


def test_flush_gives_up_early_when_rate_limited_past_the_deadline(tmp_path: Path, clock: Clock) -> None:
    """When a rate limit outlasts the deadline, flush returns False without waiting it out."""
    queue = make_queue(tmp_path, clock)
    put(queue, b"a")
    sender = make_sender(queue, ScriptedTransport(SendResult(429, None, 60.0)), clock)
    sender.step()
    assert (False, 0.0) == (sender.flush(2.0), clock.slept)


# -- the real stack: HTTPS with mutual TLS on 127.0.0.1 -----------------------------------------

def https(server: ReportServer, pki: Pki, *, cert: Path | None = None, key: Path | None = None) -> HttpsTransport:
    return HttpsTransport(server.connection(), client_cert=str(cert or pki.client_cert),
                          client_key=str(key or pki.client_key), timeout_s=5.0)


def test_delivery_over_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    """Queued reports reach the real server in order and leave the queue."""
    queue = make_queue(tmp_path)
    for i in range(3):
        put(queue, b"sealed-%d" % i)
    receipts: list[str | None] = []
    with ReportServer(pki) as server:
        sender = Sender(queue, https(server, pki), on_sent=lambda i, r: receipts.append(r.receipt))
        assert True is sender.flush(10.0)
        sender.close()
    assert [b"sealed-0", b"sealed-1", b"sealed-2"] == server.reports()
    assert ["r-1", "r-2", "r-3"] == receipts
    assert [] == queue.items()


def test_offline_then_delivered_after_restart(tmp_path: Path, pki: Pki) -> None:
    """Reports queued while the server is unreachable are delivered by the next run's sender."""
    port = free_port()
    queue = make_queue(tmp_path)
    put(queue, b"while offline")
    with ReportServer(pki, port=port) as server:
        connection = server.connection()
    offline = Sender(queue, HttpsTransport(connection, client_cert=str(pki.client_cert),
                                           client_key=str(pki.client_key), timeout_s=1.0))
    assert 0 < offline.step()
    assert 1 == offline.failures
    offline.close()
    restarted_queue = make_queue(tmp_path)  # a new process: new objects over the same directory
    with ReportServer(pki, port=port) as server:
        sender = Sender(restarted_queue, https(server, pki))
        assert True is sender.flush(10.0)
        sender.close()
    assert [b"while offline"] == server.reports()


@pytest.mark.parametrize("which", ["expired", "wrong_ca"])
def test_handshake_failure_keeps_the_report_queued(tmp_path: Path, pki: Pki, which: str) -> None:
    """A client certificate the server refuses fails the send; the report stays queued, not dropped."""
    cert, key = {"expired": (pki.expired_client_cert, pki.expired_client_key),
                 "wrong_ca": (pki.wrong_ca_client_cert, pki.wrong_ca_client_key)}[which]
    queue = make_queue(tmp_path)
    put(queue, b"keep me")
    with ReportServer(pki) as server:
        sender = Sender(queue, https(server, pki, cert=cert, key=key))
        sender.step()
    assert (1, 1, {}) == (sender.failures, len(queue.items()), queue.dropped)
    assert [] == server.reports()


def test_server_rejection_drops_over_the_real_stack(tmp_path: Path, pki: Pki) -> None:
    """A 413 from the real server drops the item with a counter; the next one is delivered."""
    from https_server import Scripted

    queue = make_queue(tmp_path)
    put(queue, b"too big")
    put(queue, b"fine")
    with ReportServer(pki) as server:
        server.script.append(Scripted(413))
        sender = Sender(queue, https(server, pki))
        assert True is sender.flush(10.0)
        sender.close()
    assert {"rejected_413": 1} == queue.dropped
    assert [b"too big", b"fine"] == server.reports()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_thread_and_delivers(tmp_path: Path, pki: Pki) -> None:
    """After fork the child's sender starts its own thread (new pid) and delivers the child's report."""
    queue = make_queue(tmp_path)
    with ReportServer(pki) as server:
        sender = Sender(queue, https(server, pki))
        put(queue, b"from parent")
        assert True is sender.flush(10.0)
        parent_thread = sender.thread
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: no assert here, report through the exit code
            code = 1
            try:
                put(queue, b"from child")
                delivered = sender.flush(10.0)
                own = sender.thread is not None and sender.thread is not parent_thread and sender.thread.is_alive()
                code = 0 if (delivered and own) else 2
            finally:
                os._exit(code)
        os.close(write)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        assert 0 == os.waitstatus_to_exitcode(status)
        assert True is (parent_thread is sender.thread and parent_thread.is_alive())
        sender.close()
    assert [b"from parent", b"from child"] == server.reports()
