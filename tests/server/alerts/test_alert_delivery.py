"""The outbox worker: retries with backoff against a real HTTP receiver, logs each attempt
(never the payload), gives up, and refuses what the policy does not forward. Canary:
planted personal data in a crash never reaches a Notification handed to a destination."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crashveil.server.alerts.log import delivery_log
from crashveil.server.alerts.notification import DeliveryResult, Notification
from crashveil.server.alerts.rules import add_rule, make_rule
from crashveil.server.alerts.worker import OutboxWorker, RetryPolicy
from crashveil.server.storage.store import Storage

from ..conftest import NOW
from .conftest import Clock, Directory, Recorder, outbox, store_crash


class Receiver:
    """A local HTTP endpoint answering ``statuses`` in turn (then 200), counting POSTs."""

    def __init__(self, statuses: list[tuple[int, dict[str, str]]]) -> None:
        self.statuses = statuses
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status, headers = receiver.statuses.pop(0) if receiver.statuses else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HttpPost:
    """A tiny real destination: POSTs the notification as JSON."""

    kind = "webhook"

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def deliver(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(asdict(notification), default=str).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return DeliveryResult(True, response.status, f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            after = exc.headers.get("Retry-After")
            return DeliveryResult(False, exc.code, f"HTTP {exc.code}", float(after) if after else None)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    one = Receiver([(503, {"Retry-After": "30"}), (500, {})])
    yield one
    one.close()


def _policy_of(store: Storage):  # type: ignore[no-untyped-def]
    return lambda project_id: store.project(project_id).policy  # type: ignore[union-attr]


def _rule(store: Storage, *destinations: str) -> int:
    policy = store.project("demo").policy  # type: ignore[union-attr]
    return add_rule(store.engine, make_rule("demo", "new_group", destinations, policy), now=NOW)


def test_worker_retries_with_backoff_then_delivers_and_logs_each_attempt(store: Storage, receiver: Receiver) -> None:
    """503 with Retry-After 30, then 500, then 200: attempts at t, t+30 (Retry-After beats the
    10 s backoff), t+50 (20 s backoff); not before; three log rows, no payload in them."""
    _rule(store, "hook")
    store_crash(store, message="planted payload text")
    clock = Clock(NOW)
    worker = OutboxWorker(store.engine, Directory([HttpPost("hook", receiver.url)]), _policy_of(store),
                          retry=RetryPolicy(max_attempts=5, base_s=10.0, max_s=100.0), clock=clock, rng=lambda: 1.0)
    made = []
    for offset in (0, 29, 30, 49, 50, 500):
        clock.now = NOW + timedelta(seconds=offset)
        made.append(worker.run_once())
    log = list(reversed(delivery_log(store.engine, "demo")))
    assert ([1, 0, 1, 0, 1, 0], 3, "sent") == (made, len(receiver.bodies), outbox(store)[0].state)
    assert [(1, False, 503, 0), (2, False, 500, 30), (3, True, 200, 50)] == [
        (e.attempt, e.ok, e.status, int((e.at - NOW).total_seconds())) for e in log]
    assert all("planted" not in e.detail for e in log)


def test_worker_gives_up_after_max_attempts_and_refuses_unforwarded(store: Storage) -> None:
    """Always failing: failed after 3 attempts. A destination the directory lacks: failed at once."""
    _rule(store, "chat", "hook")
    store_crash(store)
    clock = Clock(NOW)
    failing = Recorder("chat", results=[DeliveryResult(False, 500, "HTTP 500")] * 5)
    worker = OutboxWorker(store.engine, Directory([failing]), _policy_of(store),
                          retry=RetryPolicy(max_attempts=3, base_s=1.0, max_s=10.0), clock=clock)
    for step in range(6):
        clock.now = NOW + timedelta(minutes=step)
        worker.run_once()
    states = {row.destination: (row.state, row.attempts) for row in outbox(store)}
    assert ({"chat": ("failed", 3), "hook": ("failed", 1)}, 3) == (states, len(failing.received))
    assert ["no destination of that name is configured"] == [
        e.detail for e in delivery_log(store.engine, "demo") if e.destination == "hook"]


PLANTED = ("alice.canary@example.com", "alice.canary", "+1 415 555 0199", "4155550199", "/home/alice", "alice")


def test_canary_planted_personal_data_never_reaches_a_destination(store: Storage, tmp_path: Path) -> None:
    """The crash message (stored unredacted here, as if the server's own redaction had missed it)
    names an e-mail, a phone and a home path (the redactor keeps the file's name, not the
    user's); ``chat`` may receive the title and crash type.
    Neither destination is handed any of it; ``hook`` gets the crash type alone."""
    _rule(store, "chat", "hook")
    add_rule(store.engine, make_rule("demo", "regression", ["chat"], store.project("demo").policy), now=NOW)  # type: ignore[union-attr]
    message = "contact alice.canary@example.com or +1 415 555 0199, file /home/alice/secret.txt"
    store_crash(store, message=message, crash_type="ValueError")
    chat, hook = Recorder("chat"), Recorder("hook")
    OutboxWorker(store.engine, Directory([chat, hook]), _policy_of(store), clock=lambda: NOW).run_once()
    handed = [*chat.received, *hook.received]
    texts = json.dumps([asdict(n) for n in handed], default=str)
    assert (2, []) == (len(handed), [p for p in PLANTED if p in texts])
    assert ("ValueError: contact <email>", {"crash_type", "release"}) == (chat.received[0].title[:27],
                                                                         set(chat.received[0].fields))
    assert ("New crash: ValueError", {"crash_type": "ValueError"}) == (hook.received[0].title, hook.received[0].fields)


def test_audit_report_lists_the_destinations(store: Storage, tmp_path: Path) -> None:
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.governance.audit_report import build_audit_report, render_audit_report

    audit = AuditTrail.for_server_dir(store.engine, tmp_path, now=lambda: NOW)
    data = build_audit_report(store, audit, AccessStore(store.engine, audit, now=lambda: NOW),
                              since=NOW - timedelta(days=1), until=NOW)
    text = render_audit_report(data, "md")
    assert [("chat", ["crash_type", "release"], True), ("hook", ["crash_type"], False)] == [
        (e["name"], e["fields"], e["title"]) for e in data["projects"][0]["forwarding"]]
    assert "Destinations alerts are forwarded to" in text
