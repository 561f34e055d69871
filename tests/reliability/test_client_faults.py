"""Faults seen from the client: the database down or the disk full (503 + Retry-After, then
everything delivered once), days offline, tampered queue items, bad client certificates.

The SDK parts are real (``SealedQueue``, ``Sender``, ``HttpsTransport``) and so is the
server; only the sender's clock is a parameter, so a 30 s Retry-After or days offline take
no wall time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import resource
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashveil.sdk.delivery.queue import QueueMeta, SealedQueue, decode_item, encode_item
from crashveil.sdk.delivery.sender import Sender

servers = sys.modules["crashveil_tests_servers"]  # tests/_servers.py, loaded by conftest.py

pytestmark = pytest.mark.slow


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _queue(tmp_path: Path, clock: Clock, **bounds: int) -> SealedQueue:
    values = {"max_reports": 30, "max_bytes": 2_000_000, "max_age_days": 30, **bounds}
    return SealedQueue(tmp_path / "queue", now=clock, **values)


def _fill(queue: SealedQueue, sealer: Any, count: int, clock: Clock) -> list[str]:
    ids = []
    for _ in range(count):
        report = sealer.report(hour=dt.datetime.fromtimestamp(clock.now, dt.UTC).strftime("%Y-%m-%dT%H:00Z"))
        queue.put(sealer.seal(report), QueueMeta("report", report.crash_type, "diagnostic", clock.now))
        ids.append(report.report_id)
    return ids


def _drain(sender: Sender, clock: Clock, steps: int) -> list[float]:
    """Step the sender ``steps`` times, jumping the clock over every wait it asks for."""
    waits = []
    for _ in range(steps):
        if not len(sender.queue):
            break
        wait = sender.step()
        waits.append(wait)
        clock.now += wait
    return waits


@contextlib.contextmanager
def _database_down(server: Any) -> Iterator[None]:
    """SQLite: another process holds the write lock. PostgreSQL: connections refused and cut."""
    url = server.dir.database_url
    if url is None:
        conn = sqlite3.connect(server.dir.path / "crashveil.db", isolation_level=None, timeout=10)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    from crashveil.server.db import engine as db

    base, name = url.rsplit("/", 1)
    admin = db.create_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        admin.dispose()


@contextlib.contextmanager
def _disk_full(server: Any) -> Iterator[None]:
    """The server process may not grow any file (RLIMIT_FSIZE): every append fails with EFBIG."""
    soft, hard = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        yield
    finally:
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (soft, hard))


def _outage_then_recovery(server: Any, tmp_path: Path, outage: Any) -> tuple[Any, ...]:
    sealer = servers.Sealer(server.dir)
    clock = Clock()
    queue = _queue(tmp_path, clock)
    ids = _fill(queue, sealer, 12, clock)
    sender = Sender(queue, servers.transport_for(server), now=clock, min_interval_s=0.0)
    with outage(server):
        direct = servers.post_sealed(sender.transport.ssl_context(), server.port, sealer.seal(sealer.report()))
        during = [sender.step() for _ in range(3)]  # each is a 503: kept, and the next waits Retry-After
        clock.now += 31
        kept = len(queue)
    _drain(sender, clock, 60)
    rows = [r for r in servers.stored_rows(server.dir) if r[0] in set(ids)]
    return ((direct.status, direct.error, direct.retry_after), kept, during[0] == 30.0, len(queue),
            sorted(r[0] for r in rows), queue.dropped)


def test_database_down_is_503_and_every_report_is_delivered_once_after(make_server: Any, database: str | None,
                                                                       tmp_path: Path) -> None:
    """Database unavailable: 503 with Retry-After, the SDK keeps all, and after recovery delivers
    100% of them with no duplicate."""
    server = make_server(database, CRASHVEIL_SQLITE_BUSY_TIMEOUT_MS="200", CRASHVEIL_PROJECT_CACHE_S="3600").start()
    servers.Sealer(server.dir)  # warm the project cache before the outage
    servers.post_sealed(servers.transport_for(server).ssl_context(), server.port,
                        servers.Sealer(server.dir).seal(servers.Sealer(server.dir).report()))
    direct, kept, obeyed, left, stored, dropped = _outage_then_recovery(server, tmp_path, _database_down)
    assert ((503, "storage_unavailable", "30"), 12, True, 0, 12, {}) == (
        direct, kept, obeyed, left, len(stored), dropped)
    assert [] == servers.consistency_problems(server.dir)


def test_disk_full_is_503_and_every_report_is_delivered_once_after(make_server: Any, tmp_path: Path) -> None:
    """Disk full (no file may grow): 503 with Retry-After, nothing half-written; after space is
    back every queued report is delivered once."""
    server = make_server(None).start()
    sealer = servers.Sealer(server.dir)
    servers.post_sealed(servers.transport_for(server).ssl_context(), server.port, sealer.seal(sealer.report()))
    direct, kept, obeyed, left, stored, dropped = _outage_then_recovery(server, tmp_path, _disk_full)
    assert ((503, "storage_unavailable", "30"), 12, True, 0, 12, {}) == (
        direct, kept, obeyed, left, len(stored), dropped)
    assert [] == servers.consistency_problems(server.dir)


def test_days_offline_keeps_the_queue_bounded_then_delivers_the_rest(make_server: Any, tmp_path: Path) -> None:
    """Five days offline with 50 crashes: the queue holds at most 30, the 20 oldest are dropped
    and counted, and all 30 kept are delivered once the server is back."""
    server = make_server(None)
    clock = Clock()
    clock.now -= 5 * 86400
    queue = _queue(tmp_path, clock)
    ids: list[str] = []
    sealer = None
    server.start()
    sealer = servers.Sealer(server.dir)
    transport = servers.transport_for(server)
    server.stop()  # offline from here on
    sender = Sender(queue, transport, now=clock, min_interval_s=0.0)
    sizes = []
    for _ in range(50):
        ids += _fill(queue, sealer, 1, clock)
        sender.step()  # no answer: kept, backing off
        clock.now += 5 * 86400 / 50
        sizes.append(len(queue))
    server.start()
    clock.now += 301  # past the longest backoff
    _drain(sender, clock, 200)
    stored = sorted(r[0] for r in servers.stored_rows(server.dir) if r[0] in set(ids))
    assert (30, 0, {"queue_overflow": 20}, sorted(ids[20:])) == (max(sizes), len(queue), queue.dropped, stored)


def test_a_report_queued_eight_days_offline_is_still_delivered(make_server: Any, tmp_path: Path) -> None:
    """A crash from 8 days ago (inside the SDK queue's 30 days) is delivered after reconnecting."""
    server = make_server(None).start()
    sealer = servers.Sealer(server.dir)
    clock = Clock()
    clock.now -= 8 * 86400
    queue = _queue(tmp_path, clock)
    ids = _fill(queue, sealer, 1, clock)
    clock.now += 8 * 86400
    sender = Sender(queue, servers.transport_for(server), now=clock, min_interval_s=0.0)
    _drain(sender, clock, 5)
    assert ids == [r[0] for r in servers.stored_rows(server.dir) if r[0] in set(ids)]


def _expired_client_cert(server_dir: Any, out: Path, *, other_ca: bool = False) -> tuple[Path, Path]:
    """A client certificate that expired yesterday (from the server's CA), or a valid one from another CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    if other_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crashveil CA")])
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    else:
        ca_key = serialization.load_pem_private_key((server_dir.path / "tls" / "ca.key").read_bytes(), None)
        ca_name = x509.load_pem_x509_certificate(server_dir.ca_pem.read_bytes()).subject
        not_before, not_after = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = out / "client.pem", out / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("problem", ["expired", "other_ca", "missing"])
def test_bad_client_certificate_keeps_reports_queued_until_a_good_one(make_server: Any, tmp_path: Path,
                                                                       problem: str) -> None:
    """An expired, foreign-CA or missing client certificate fails the handshake (no plain-HTTP
    fallback); the report stays queued and goes once the app has a good certificate."""
    server = make_server(None).start()
    sealer = servers.Sealer(server.dir)
    clock = Clock()
    queue = _queue(tmp_path, clock)
    ids = _fill(queue, sealer, 1, clock)
    if problem == "missing":
        from crashveil.sdk.transport import HttpsTransport

        bad = HttpsTransport(server.connection_string())
    else:
        cert, key = _expired_client_cert(server.dir, tmp_path, other_ca=problem == "other_ca")
        bad = servers.transport_for(server, client_cert=cert, client_key=key)
    refused = Sender(queue, bad, now=clock, min_interval_s=0.0)
    _drain(refused, clock, 3)
    kept = (len(queue), refused.failures)
    _drain(Sender(queue, servers.transport_for(server), now=clock, min_interval_s=0.0), clock, 3)
    stored = [r[0] for r in servers.stored_rows(server.dir) if r[0] in set(ids)]
    assert ((1, 3), ids, 0) == (kept, stored, len(queue))


def test_tampered_queue_item_is_refused_and_its_neighbours_are_delivered(make_server: Any, tmp_path: Path) -> None:
    """A queue file whose ciphertext was changed and re-framed (valid digest) is refused by the
    server (400), dropped and counted; the items around it are delivered."""
    server = make_server(None).start()
    sealer = servers.Sealer(server.dir)
    clock = Clock()
    queue = _queue(tmp_path, clock)
    ids = _fill(queue, sealer, 3, clock)
    middle = queue.items()[1]
    meta, sealed = decode_item(middle.path.read_bytes())
    tampered = bytearray(sealed)
    tampered[len(tampered) // 2] ^= 0x01
    middle.path.write_bytes(encode_item(bytes(tampered), meta))
    _drain(Sender(queue, servers.transport_for(server), now=clock, min_interval_s=0.0), clock, 6)
    stored = sorted(r[0] for r in servers.stored_rows(server.dir) if r[0] in set(ids))
    assert (sorted([ids[0], ids[2]]), {"rejected_400": 1}, 0) == (stored, queue.dropped, len(queue))
    assert hashlib.sha256(bytes(tampered)).digest() != hashlib.sha256(sealed).digest()
