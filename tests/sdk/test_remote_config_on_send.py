"""The remote config is fetched by the sender before it delivers, when due: the apps that exit
before the start-up fetch (``REMOTE_CONFIG_DELAY_S``) still get it when they crash.

Real app processes and a real mutual-TLS server (``https_server.ReportServer``) for what an
app does at exit; in-process clients over the same server for the one-fetch-per-process flag;
the sender's own bound on a fake clock.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crashveil.sdk.delivery.queue import QueueMeta, SealedQueue
from crashveil.sdk.delivery.sender import Sender
from crashveil.sdk.remote.config import encode_config, encode_document, load_cached
from crashveil.sdk.transport import HttpsTransport
from crashveil.testing import RecordingTransport
from crashveil.wire import keyfmt
from crashveil.wire.protocol import ConnectionString, config_path, deletion_path, reports_path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from https_server import PROJECT, Pki, ReportServer, make_pki

from .test_remote_config import SOCKET_RECORDER
from .test_sender import Clock

CONFIG = config_path(PROJECT)
REPORTS = reports_path(PROJECT)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates generated once for the module."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    """The server's config signing key."""
    return Ed25519PrivateKey.generate()


def pinned(key: Ed25519PrivateKey) -> str:
    return keyfmt.format_key_string("ed25519", key.public_key().public_bytes_raw())


def document(key: Ed25519PrivateKey, now: float, **changes: Any) -> bytes:
    """A genuine config document for ``PROJECT``, valid a day from ``now``."""
    data: dict[str, Any] = {"project": PROJECT, "version": 7, "issued_at": now - 60, "expires_at": now + 86400,
                            "sample_rate": None, "sample_rates": [], "modules": {}, "counts_only": [],
                            "request_level": {}}
    data.update(changes)
    raw = encode_config(data)
    return encode_document(raw, key.sign(raw))


def dsn_for(server: ReportServer, pki: Pki, key: Ed25519PrivateKey, keypair: Any) -> str:
    return ConnectionString(host="127.0.0.1", port=server.port, project=PROJECT,
                            public_key=keypair.public_key_string(), signing_key=pinned(key),
                            ca_der=pki.ca_der).format()


def requests(server: ReportServer) -> list[tuple[str, str]]:
    with server.lock:
        return [(r.method, r.path) for r in server.received]


def queued(data: Path) -> list[str]:
    """The kinds of the items in the app's queue directory."""
    directory = data / "queue"
    if not directory.is_dir():
        return []
    queue = SealedQueue(directory, max_reports=30, max_bytes=2_000_000, max_age_days=30)
    return [item.meta.kind for item in queue.items()]


def hang_config_until(server: ReportServer, release: threading.Event) -> list[str]:
    """Make the config route accept the request and answer nothing until ``release``.

    Returns a list the handler appends ``"answered"`` to once it stops holding the request.
    """
    events: list[str] = []
    base: Any = server._httpd.RequestHandlerClass  # the helper has no hanging route

    class Hanging(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            if self.path == CONFIG and not release.is_set():
                self._record(b"")
                release.wait(120)
                events.append("answered")
                return  # no answer at all: the connection just closes
            super().do_GET()

    server._httpd.RequestHandlerClass = Hanging
    return events


# -- real app processes ----------------------------------------------------------------------

_APP = SOCKET_RECORDER + """
import crashveil

crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], app_name="cliapp",
               client_cert=os.environ["TEST_CERT"], client_key=os.environ["TEST_KEY"])
run = os.environ["RUN"]
if run == "grant":
    crashveil.grant("crash")
elif run == "crash":
    {}["missing"]  # uncaught: the hook queues it, the exit flush sends it
elif run == "other-crash":  # another crash group (the same one again would be a duplicate)
    [][1]
elif run == "revoke":
    crashveil.revoke()
print("done", run)
"""


@pytest.fixture
def app(pki: Pki, key: Ed25519PrivateKey, keypair: Any, run_app: Any, tmp_path: Path) -> Any:
    """``app(run)`` runs ``_APP`` once against the server in ``app.server``; its data dir is ``app.data``."""
    import time

    class App:
        data = tmp_path / "data"
        sockets = tmp_path / "sockets.log"

        def __init__(self, server: ReportServer) -> None:
            self.server = server
            self.env = {"TEST_DSN": dsn_for(server, pki, key, keypair), "TEST_DATA": str(self.data),
                        "TEST_CERT": str(pki.client_cert), "TEST_KEY": str(pki.client_key),
                        "SOCKET_LOG": str(self.sockets)}

        def __call__(self, run: str) -> Any:
            return run_app(_APP, env={**self.env, "RUN": run})

        def runs_with_sockets(self) -> list[str]:
            return sorted(set(self.sockets.read_text().split())) if self.sockets.exists() else []

        def cached_version(self) -> int:
            return load_cached(self.data / "remote_config.json", pinned(key), project=PROJECT,
                               now=time.time()).version

    with ReportServer(pki) as server:
        server.config_body = document(key, time.time())
        yield App(server)


def test_an_app_that_crashes_and_exits_at_once_fetches_the_config_before_its_report(app: Any) -> None:
    """The crash run exits long before the start-up delay; its exit flush fetches the config
    (GET) and then delivers the report (POST); the config is cached, verified, recorded."""
    granted = app("grant")
    crashed = app("crash")
    assert (0, 1, True) == (granted.returncode, crashed.returncode, "KeyError" in crashed.stderr)
    assert [("GET", CONFIG), ("POST", REPORTS)] == requests(app.server)
    assert (7, [], True) == (app.cached_version(), queued(app.data),
                             (app.data / "remote_config.checked").exists())


def test_a_config_checked_recently_is_not_fetched_again(app: Any) -> None:
    """A second crash within the refresh interval sends its report only: no config GET."""
    app("grant")
    app("crash")
    before = requests(app.server)
    again = app("other-crash")
    assert (1, [("GET", CONFIG), ("POST", REPORTS)], [("POST", REPORTS)]) == (
        again.returncode, before, requests(app.server)[len(before):])


def test_a_hanging_config_endpoint_does_not_hold_the_exit(app: Any) -> None:
    """The config route accepts and never answers: the app still exits within its flush bound
    (while the server holds the GET, before the transport's own timeout could have let the
    POST go) and the report stays queued. The attempt was recorded, so the next start, with
    the endpoint still hanging, does not try again within the hour: it delivers the report."""
    release = threading.Event()
    events = hang_config_until(app.server, release)
    try:
        app("grant")
        crashed = app("crash")
        held = list(events)
        during = requests(app.server)
        queue_after_crash = queued(app.data)
        later = app("start")
        after = requests(app.server)[len(during):]
    finally:
        release.set()
    assert (1, [], [("GET", CONFIG)], ["report"]) == (crashed.returncode, held, during, queue_after_crash)
    assert (0, [("POST", REPORTS)], []) == (later.returncode, after, queued(app.data))


def test_an_app_that_sends_nothing_makes_no_request_at_exit(app: Any) -> None:
    """Consent given, config due, no crash: the app exits before the start-up fetch and its exit
    opens no socket at all."""
    app("grant")
    idle = app("start")
    assert (0, [], []) == (idle.returncode, requests(app.server), app.runs_with_sockets())


def test_consent_off_sends_the_deletion_request_without_fetching_the_config(app: Any) -> None:
    """After ``revoke()`` only the deletion request goes; the level is off, so no config GET."""
    app("grant")
    revoked = app("revoke")
    assert (0, [("POST", deletion_path(PROJECT))]) == (revoked.returncode, requests(app.server))
    assert False is (app.data / "remote_config.checked").exists()


# -- one fetch per process, in-process clients -------------------------------------------------

def crash() -> BaseException:
    try:
        raise ValueError("boom")  # one site: every call has the same fingerprint
    except ValueError as exc:
        return exc


@pytest.fixture
def served(pki: Pki, key: Ed25519PrivateKey, keypair: Any, make_client: Any, clock: Any) -> Any:
    """``(server, client)``: a client (consent given, not started) over HTTPS to a real server."""
    with ReportServer(pki) as server:
        server.config_body = document(key, clock.now)
        dsn = dsn_for(server, pki, key, keypair)
        transport = HttpsTransport(ConnectionString.parse(dsn), client_cert=str(pki.client_cert),
                                   client_key=str(pki.client_key), timeout_s=5.0)
        client = make_client(dsn=dsn, transport=transport)
        client.remote.delay_s = 0.0
        client.grant("crash")
        yield server, client


def test_after_the_senders_fetch_the_start_up_fetch_does_not_run(served: Any) -> None:
    """The sender fetched first: the start-up fetch (even if due again) fetches nothing."""
    server, client = served
    client.capture_exception(crash())
    assert True is client.flush(10.0)
    (client.data_dir / "remote_config.checked").unlink()
    client.start()
    if client.remote.thread is not None:
        client.remote.thread.join(10)
    assert [("GET", CONFIG), ("POST", REPORTS)] == requests(server)


def test_after_the_start_up_fetch_the_sender_does_not_fetch(served: Any) -> None:
    """The start-up fetch ran first: the sender delivers without fetching (even if due again)."""
    server, client = served
    client.start()
    client.remote.thread.join(10)
    (client.data_dir / "remote_config.checked").unlink()
    client.capture_exception(crash())
    assert True is client.flush(10.0)
    assert [("GET", CONFIG), ("POST", REPORTS)] == requests(server)


def test_the_fetched_config_applies_to_what_is_captured_after_it(served: Any, key: Ed25519PrivateKey,
                                                                 clock: Any) -> None:
    """The server makes this crash counts-only. The report sealed before the fetch is sent as
    it is; the same crash captured after the fetch (past the dedupe window) is only counted."""
    from crashveil.sdk import _internal

    server, client = served
    fingerprint = client.collector.record(crash(), mechanism="manual").fingerprint
    server.config_body = document(key, clock.now, counts_only=[fingerprint])
    first = client.capture_exception(crash())
    assert True is client.flush(10.0)
    clock.now += 3601.0  # past the policy's dedupe window: only counts-only can stop it now
    second = client.capture_exception(crash())
    assert (True, None, 1, [("GET", CONFIG), ("POST", REPORTS)]) == (
        first is not None, second, _internal.dropped_counts().get("counts_only"), requests(server))


# -- the sender's bound ------------------------------------------------------------------------

def sender_over(tmp_path: Path, transport: RecordingTransport, before_send: Any,
                clock: Clock | None = None) -> Sender:
    """A sender with one report queued; on the fake ``clock`` if given, else on real time."""
    timing: dict[str, Any] = {"now": clock, "sleep": clock.sleep} if clock is not None else {}
    queue = SealedQueue(tmp_path / "queue", max_reports=30, max_bytes=2_000_000, max_age_days=30,
                        **({"now": clock} if clock is not None else {}))
    queue.put(b"sealed", QueueMeta(kind="report", crash_type="ValueError", level="crash", created=1_800_000_000.0))
    return Sender(queue, transport, before_send=before_send, **timing)


def test_before_send_runs_in_the_sending_thread_before_the_send(tmp_path: Path) -> None:
    """The hook runs once per send, in the sender thread, before the item reaches the transport."""
    transport = RecordingTransport()
    seen: list[tuple[str, int]] = []
    sender = sender_over(tmp_path, transport, lambda: seen.append(
        (threading.current_thread().name, len(transport.sent))))
    try:
        assert True is sender.flush(10.0)
    finally:
        sender.close()
    assert ([("crashveil-sender", 0)], 1) == (seen, len(transport.sent))


def test_a_hanging_before_send_cannot_extend_the_flush_bound(tmp_path: Path) -> None:
    """A hook that never returns (a hung config endpoint) leaves flush(2.0) bounded by 2 s of
    the clock; the item stays queued and nothing was sent."""
    clock = Clock()
    release, entered = threading.Event(), threading.Event()
    transport = RecordingTransport()

    def hang() -> None:
        entered.set()
        release.wait(30)

    sender = sender_over(tmp_path, transport, hang, clock)
    try:
        sender.wake()
        assert True is entered.wait(10)  # the sender thread is inside the hook
        assert False is sender.flush(2.0)
        assert 2.0 == pytest.approx(clock.slept, abs=0.03)
        assert (1, []) == (len(sender.queue.items()), transport.sent)
    finally:
        release.set()
        sender.close()


def test_a_failing_before_send_does_not_stop_the_send(tmp_path: Path) -> None:
    """The hook's exception is swallowed; the item is delivered."""
    transport = RecordingTransport()

    def broken() -> None:
        raise RuntimeError("hook bug")

    sender = sender_over(tmp_path, transport, broken)
    sender.step()
    assert (1, []) == (len(transport.sent), sender.queue.items())
