"""``crashveil server renew-cert`` and the warnings ahead of expiry.

The renewed certificate keeps every name, adds the asked ones, is audited, and the server
serves it after a restart (a TLS handshake for an added name verifies against the pinned CA);
``/readyz`` and ``crashveil_certificate_expiry_seconds`` say how long the served one has left.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _loading import load
from cryptography import x509
from prometheus_client import CollectorRegistry, generate_latest

from crashveil.server.keys.cert_expiry import CertExpiry, CertificateExpiryCollector, expiry_details
from crashveil.server.keys.server_cert import certificate_names

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[2]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=environ)


def ok(*args: str) -> str:
    done = cli(*args)
    assert 0 == done.returncode, done.stderr
    return done.stdout


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_renew_cert_keeps_names_adds_names_and_is_served_after_restart(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    ok("server", "init", str(root), "--suite", "x25519", "--name", "example.org")
    ok("server", "issue-client-cert", "app", "--server-dir", str(root))
    tls = root / "tls"
    before = _cert(tls / "server.pem")
    out = ok("server", "renew-cert", "--add-name", "crash.example.com", "--add-name", "10.0.0.5", "--days", "20",
             "--server-dir", str(root), "--actor", "ops")
    after = _cert(tls / "server.pem")
    assert {"127.0.0.1", "::1", "localhost", "example.org", "crash.example.com", "10.0.0.5"} == set(
        certificate_names(after))
    assert timedelta(days=19) < after.not_valid_after_utc - datetime.now(UTC) <= timedelta(days=20)
    after.verify_directly_issued_by(_cert(tls / "ca.pem"))
    kept = tls / f"server.{before.serial_number:x}.pem"
    assert before == _cert(kept) and (tls / f"server.{before.serial_number:x}.key").exists()
    assert 0o600 == (tls / "server.key").stat().st_mode & 0o777
    assert "restart the server" in out
    verified = cli("audit", "verify", "--server-dir", str(root))
    assert 0 == verified.returncode, verified.stdout + verified.stderr

    server_dir = servers.ServerDir(root, root / "clients" / "app.pem", root / "clients" / "app.key")
    server = servers.Server(server_dir, tmp_path / "server.log").start()
    try:
        context = ssl.create_default_context(cafile=str(server_dir.ca_pem))
        context.load_cert_chain(str(server_dir.client_cert), str(server_dir.client_key))
        # An added name verifies against the pinned CA: the renewed certificate is served.
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
        connection.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port)),
                                              server_hostname="crash.example.com")
        connection.request("GET", "/readyz")
        ready = json.loads(connection.getresponse().read())
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        connection.close()
    finally:
        server.stop()
    server_entry = ready["certificates"]["server"]
    assert server_entry["days_left"] in (18, 19)
    assert server_entry["warning"].startswith(f"expires in {server_entry['days_left']} days: renew it")
    assert "warning" not in ready["certificates"]["ca"]
    gauge = next(line for line in metrics.splitlines()
                 if line.startswith('crashveil_certificate_expiry_seconds{cert="server"}'))
    assert 18 * 86400 < float(gauge.split()[-1]) <= 20 * 86400


def test_renew_cert_with_a_bad_name_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    ok("server", "init", str(root), "--suite", "x25519")
    before = (root / "tls" / "server.pem").read_bytes()
    done = cli("server", "renew-cert", "--add-name", "not a name!", "--server-dir", str(root))
    assert 1 == done.returncode and "Traceback" not in done.stderr
    assert 1 == len(done.stderr.strip().splitlines()) and "not a host name or IP address" in done.stderr
    assert before == (root / "tls" / "server.pem").read_bytes()
    assert ["ca.key", "ca.pem", "server.key", "server.pem"] == sorted(p.name for p in (root / "tls").iterdir())


@pytest.mark.parametrize(("days", "warning"), [
    (45, None), (30, None), (29.5, "expires in 29 days: renew it (crashveil server renew-cert)"),
    (-0.5, "expired: renew it (crashveil server renew-cert)")])
def test_readyz_warns_below_thirty_days(days: float, warning: str | None) -> None:
    details = expiry_details((CertExpiry("server", NOW + timedelta(days=days)),), NOW)
    assert warning == details["server"].get("warning")


def test_gauge_counts_seconds_left_at_scrape_time() -> None:
    moments = [NOW]
    registry = CollectorRegistry()
    registry.register(CertificateExpiryCollector(
        (CertExpiry("server", NOW + timedelta(days=10)), CertExpiry("ca", NOW + timedelta(days=3000))),
        lambda: moments[-1]))
    first = generate_latest(registry).decode()
    moments.append(NOW + timedelta(days=1))
    second = generate_latest(registry).decode()
    assert 'crashveil_certificate_expiry_seconds{cert="server"} 864000.0' in first
    assert 'crashveil_certificate_expiry_seconds{cert="server"} 777600.0' in second
    assert 'crashveil_certificate_expiry_seconds{cert="ca"} 2.592e+08' in first
