"""Client certificates against the real server: default lifetime, renewal, revocation within seconds."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

servers = sys.modules["crashveil_tests_servers"]

REFRESH_S = 0.5


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "crashveil", "server", *args], capture_output=True, text=True,
                          timeout=120)
    assert 0 == done.returncode, done.stderr
    return done.stdout


def _status(server: Any, cert: Path, key: Path) -> int:
    """``GET /healthz`` over the SDK's transport context with this certificate (0: refused)."""
    context = servers.transport_for(server, client_cert=cert, client_key=key).ssl_context()
    return servers.get_status(context, server.port, "/healthz", timeout_s=3)


def test_default_lifetime_renewal_and_revocation_over_real_tls(make_server: Any) -> None:
    """A new certificate lasts 90 days; a renewed one works beside the old; a revoked serial,
    then a revoked name, is refused by the running server within seconds; every step audited."""
    server = make_server(CRASHVEIL_REVOCATION_REFRESH_S=str(REFRESH_S))
    clients = server.dir.path / "clients"
    old = x509.load_pem_x509_certificate(server.dir.client_cert.read_bytes())
    lifetime = old.not_valid_after_utc - old.not_valid_before_utc
    server.start()
    assert 200 == _status(server, server.dir.client_cert, server.dir.client_key)

    out = _cli("renew-client-cert", "load-client", "--server-dir", str(server.dir.path))
    old_serial = format(old.serial_number, "X")
    kept_cert, kept_key = clients / f"load-client.{old_serial}.pem", clients / f"load-client.{old_serial}.key"
    new_cert, new_key = clients / "load-client.pem", clients / "load-client.key"
    assert "expires:" in out
    assert (200, 200) == (_status(server, kept_cert, kept_key), _status(server, new_cert, new_key))

    _cli("revoke-client-cert", "--serial", old_serial, "--server-dir", str(server.dir.path))
    revoked_at = time.monotonic()
    assert servers.wait_for(lambda: _status(server, kept_cert, kept_key) == 0, 10 * REFRESH_S + 5)
    took = time.monotonic() - revoked_at
    assert 200 == _status(server, new_cert, new_key)

    _cli("revoke-client-cert", "load-client", "--server-dir", str(server.dir.path))
    assert servers.wait_for(lambda: _status(server, new_cert, new_key) == 0, 10 * REFRESH_S + 5)
    listing = _cli("list-client-certs", "--server-dir", str(server.dir.path))
    print(f"revocation took effect after {took:.2f} s (refresh {REFRESH_S} s)")

    from crashveil.server.governance.audit import AuditTrail

    storage = server.dir.storage()
    try:
        actions = [e.action for e in AuditTrail.for_server_dir(storage.engine, server.dir.path).entries(
            actions=["client_cert.issue", "client_cert.renew", "client_cert.revoke"])]
    finally:
        storage.close()
    assert (timedelta(days=90, minutes=5), 2, True) == (lifetime, listing.count("revoked"), server.alive())
    assert ["client_cert.issue", "client_cert.renew", "client_cert.revoke", "client_cert.revoke"] == actions
