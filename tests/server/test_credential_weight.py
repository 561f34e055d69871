"""Counts-only mode weighed by credential, against the real server over mutual TLS.

One sender with one client certificate and made-up pseudonyms must not switch a group to
counts-only (which the signed remote config would then tell every SDK); the same reports
from enough certificates do, and the switch is an audit entry. The server directory comes
from ``crashveil server init`` and the certificates from the server's own CA.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashveil.policy.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, reports_path

_TESTS = Path(__file__).resolve().parents[1]


def _servers() -> Any:
    name = "crashveil_tests_servers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / "_servers.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


#: Reports sent in each case: above the default threshold (1,000 an hour).
FLOOD = 1100
#: Credentials the spread flood comes from: 12 x at most 100 (the default cap) > 1,000.
CREDENTIALS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real server with default counts-only settings; the project budget raised so that
    the floods are not refused with 429 (that limit is not what is tested here)."""
    servers = _servers()
    root = tmp_path_factory.mktemp("credential-weight")
    made = servers.init_server_dir(root / "dir")
    running = servers.Server(made, root / "server.log", environ={"CRASHVEIL_PROJECT_BURST": "100000"}).start()
    yield running
    if running.alive():
        running.stop()


def _contexts(server: Any, count: int) -> list[ssl.SSLContext]:
    """``count`` client TLS contexts, each with its own certificate from the server's CA."""
    from crashveil.server.keys import pki

    settings = server.dir.settings()
    ca = pki.load_ca(settings.ca_cert_path, settings.ca_key_path)
    contexts = []
    for index in range(count):
        issued = pki.issue_client_cert(ca, f"sender-{index}", now=_utcnow())
        folder = server.dir.path / "clients-extra"
        cert, key = folder / f"sender-{index}.pem", folder / f"sender-{index}.key"
        if not cert.exists():
            pki.write_private_key(key, issued)
            pki.write_certificate(cert, issued)
        context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
        context.load_cert_chain(str(cert), str(key))
        contexts.append(context)
    return contexts


def _utcnow() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _flood(server: Any, contexts: list[ssl.SSLContext], function: str) -> tuple[str, list[int]]:
    """Send FLOOD reports of one crash, each with a fresh random pseudonym, round-robin over
    ``contexts`` (one keep-alive connection per certificate); (fingerprint, statuses)."""
    sealer = _servers().Sealer(server.dir)
    connections = [http.client.HTTPSConnection("127.0.0.1", server.port, context=c, timeout=10) for c in contexts]
    statuses: list[int] = []
    fingerprint = ""
    try:
        for index in range(FLOOD):
            report = sealer.report(function=function)  # install_id: a new random pseudonym each time
            fingerprint = report.fingerprint
            connection = connections[index % len(connections)]
            connection.request("POST", reports_path("demo"), body=sealer.seal(report),
                               headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        for connection in connections:
            connection.close()
    return fingerprint, statuses


def _counts_only(server: Any, context: ssl.SSLContext) -> list[str]:
    """The ``counts_only`` list of the signed remote config every SDK fetches."""
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    try:
        connection.request("GET", "/api/v1/projects/demo/config")
        body = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    encoded = body["config"]
    config = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return list(config["counts_only"])


def _audit(server: Any, action: str) -> list[Any]:
    from crashveil.server.governance.audit import AuditTrail

    storage = server.dir.storage()
    try:
        return AuditTrail.for_server_dir(storage.engine, server.dir.path).entries(actions=[action])
    finally:
        storage.close()


def test_one_credential_with_random_pseudonyms_does_not_flip_a_group(server: Any) -> None:
    """1,100 reports of one crash from ONE client certificate, each under a new random
    pseudonym: all stored whole, the group is not counts-only, no SDK is told so."""
    [context] = _contexts(server, 1)
    started = time.perf_counter()
    fingerprint, statuses = _flood(server, [context], "one_sender")
    elapsed = time.perf_counter() - started
    stored = _servers().stored_rows(server.dir)
    whole = sum(1 for _, _, has_detail in stored if has_detail)
    assert ([201] * FLOOD, False, []) == (statuses, fingerprint in _counts_only(server, context),
                                          _audit(server, "counts_only.enter")), server.log_text()[-2000:]
    assert whole >= FLOOD
    print(f"\n{FLOOD} reports from one credential in {elapsed:.2f} s: group not counts-only")


def test_the_same_flood_from_enough_credentials_flips_the_group_and_is_audited(server: Any) -> None:
    """The same 1,100 reports spread over 12 client certificates: the group turns
    counts-only, the signed config lists it, and the switch is one audit entry with the
    figures (reports, weight, credentials, threshold, cap); the trail verifies."""
    contexts = _contexts(server, CREDENTIALS)
    fingerprint, statuses = _flood(server, contexts, "many_senders")
    entries = [e for e in _audit(server, "counts_only.enter") if e.details["fingerprint"] == fingerprint]
    assert ([201] * FLOOD, True, 1) == (statuses, fingerprint in _counts_only(server, contexts[0]), len(entries))
    details = entries[0].details
    assert (1001, CREDENTIALS, 1000, 100, "system") == (
        details["weight"], details["credentials"], details["threshold"], details["per_credential_cap"],
        entries[0].actor)
    assert entries[0].subject.startswith("group:")
    verify = subprocess.run([sys.executable, "-m", "crashveil", "audit", "verify", "--server-dir",
                             str(server.dir.path)], capture_output=True, text=True, timeout=120)
    assert 0 == verify.returncode, verify.stderr
