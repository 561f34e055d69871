"""Counts-only mode weighed and scoped by credential, against the real server over mutual TLS.

One client certificate is one app's whole fleet. Its own flood (made-up pseudonyms or a
genuine mass failure) switches the group to counts-only FOR THAT CERTIFICATE only: its
further reports are stored counts-only and the config served to it lists the group, while
another certificate's config does not and its reports keep their details. The same reports
from enough certificates switch the group for every SDK (project-wide). Each switch is an
audit entry naming its scope. The server directory comes from ``crashveil server init``
(SQLite, or a fresh PostgreSQL database) and the certificates from the server's own CA.
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
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, reports_path

_TESTS = Path(__file__).resolve().parents[2]


def _servers() -> Any:
    name = "crashveil_tests_servers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / "_servers.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


#: The server's threshold and per-credential cap, a tenth of the defaults (1,000 and 100) so
#: that a flood costs seconds, not tens of seconds; the arithmetic is the same.
THRESHOLD = 100
CAP = 10
#: Reports sent in each case: above the threshold.
FLOOD = 110
#: Credentials the spread flood comes from: 12 x at most 10 (the cap) > 100.
CREDENTIALS = 12


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the server directory's own SQLite file) or a fresh, migrated PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    from crashveil.server.db import engine as db

    base = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE crashveil_template")
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[Any]:
    """The real server with counts-only at ``THRESHOLD`` reports an hour, ``CAP`` per credential;
    the project budget raised so that the floods are not refused with 429 (that limit is not
    what is tested here)."""
    servers = _servers()
    root = tmp_path_factory.mktemp("credential-weight")
    made = servers.init_server_dir(root / "dir", database_url=database_url)
    environ = {"CRASHVEIL_PROJECT_BURST": "100000", "CRASHVEIL_MASS_FAILURE_PER_HOUR": str(THRESHOLD),
               "CRASHVEIL_MASS_FAILURE_PER_CREDENTIAL": str(CAP)}
    running = servers.Server(made, root / "server.log", environ=environ).start()
    yield running
    if running.alive():
        running.stop()


def _contexts(server: Any, count: int) -> list[ssl.SSLContext]:
    """``count`` client TLS contexts, each with its own certificate from the server's CA
    (``sender-0``, ``sender-1``, ...: the same certificates on every call)."""
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


def _digest(server: Any, index: int) -> str:
    """The credential id the server keeps for certificate ``sender-<index>`` (never the certificate)."""
    from crashveil.server.ingest.credential_weight import credential_id

    pem = (server.dir.path / "clients-extra" / f"sender-{index}.pem").read_text()
    return credential_id("cert", ssl.PEM_cert_to_DER_cert(pem))


def _utcnow() -> Any:
    from datetime import datetime

    return datetime.now(UTC)


#: A flood must not straddle the turn of the hour (counts are per hour); seconds it may take.
FLOOD_BOUND_S = 20


def _clear_of_the_hour(bound_s: float = FLOOD_BOUND_S) -> None:
    """Return when at least ``bound_s`` seconds are left in the current UTC hour: if fewer
    are, wait (polling the clock) until the next hour has begun."""
    def left() -> float:
        now = _utcnow()
        return 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)

    if left() >= bound_s:
        return
    deadline = time.monotonic() + bound_s + 5
    start_hour = _utcnow().hour
    while _utcnow().hour == start_hour:
        assert time.monotonic() < deadline, "the clock did not reach the next hour"
        time.sleep(min(1.0, max(left(), 0.01)))


def _flood(server: Any, contexts: list[ssl.SSLContext], function: str, count: int = FLOOD
           ) -> tuple[str, list[int], list[str]]:
    """Send ``count`` reports of one crash, each with a fresh random pseudonym, round-robin
    over ``contexts`` (one keep-alive connection per certificate); (fingerprint, statuses,
    receipts). Callers first make sure their floods do not straddle the hour."""
    sealer = _servers().Sealer(server.dir)
    connections = [http.client.HTTPSConnection("127.0.0.1", server.port, context=c, timeout=10) for c in contexts]
    statuses: list[int] = []
    receipts: list[str] = []
    fingerprint = ""
    try:
        for index in range(count):
            report = sealer.report(function=function)  # install_id: a new random pseudonym each time
            fingerprint = report.fingerprint
            connection = connections[index % len(connections)]
            connection.request("POST", reports_path("demo"), body=sealer.seal(report),
                               headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
            response = connection.getresponse()
            answer = response.read()
            statuses.append(response.status)
            receipts.append(json.loads(answer).get("receipt", "") if response.status < 300 else "")
    finally:
        for connection in connections:
            connection.close()
    return fingerprint, statuses, receipts


def _has_detail(server: Any, receipts: list[str]) -> list[bool]:
    """Per receipt: whether its report was stored with its details (``False``: counts-only)."""
    stored = {receipt: has_detail for _, receipt, has_detail in _servers().stored_rows(server.dir)}
    return [stored[receipt] for receipt in receipts]


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


def test_one_credential_flooding_flips_the_group_for_itself_only(server: Any) -> None:
    """110 reports of one crash from ONE client certificate (one app's fleet), each under a
    new random pseudonym: past the threshold (100) that certificate's reports are stored
    counts-only and the config served to it lists the group; the switch is one audit entry
    scoped to its digest. A second certificate is not affected: its config does not list the
    group, its reports of the same crash keep their details, no project-wide switch."""
    first, second = _contexts(server, 2)
    _clear_of_the_hour()
    started = time.perf_counter()
    fingerprint, statuses, receipts = _flood(server, [first], "one_sender")
    elapsed = time.perf_counter() - started
    _, other_statuses, other_receipts = _flood(server, [second], "one_sender", count=20)
    assert ({201: FLOOD}, {201: 20}) == (Counter(statuses), Counter(other_statuses)), server.log_text()[-2000:]
    detail = _has_detail(server, receipts)
    entries = [e for e in _audit(server, "counts_only.enter") if e.details["fingerprint"] == fingerprint]
    assert ([True] * THRESHOLD, [False] * (FLOOD - THRESHOLD), [True] * 20) == (
        detail[:THRESHOLD], detail[THRESHOLD:], _has_detail(server, other_receipts))
    # second, then first again: no config cache hands one credential's list to another
    asked = time.perf_counter()
    lists = (_counts_only(server, second), _counts_only(server, first), _counts_only(server, second))
    config_ms = (time.perf_counter() - asked) / 3 * 1000
    assert ([], [fingerprint], []) == lists
    assert [(_digest(server, 0), THRESHOLD + 1, THRESHOLD, "system")] == [
        (e.details["scope"], e.details["reports"], e.details["threshold"], e.actor) for e in entries]
    print(f"\n{FLOOD} reports from one credential in {elapsed:.2f} s: counts-only for it alone; "
          f"config per credential {config_ms:.1f} ms (new TLS connection each)")


def test_the_same_flood_from_enough_credentials_flips_the_group_and_is_audited(server: Any) -> None:
    """The same 110 reports spread over 12 client certificates: the group turns
    counts-only, the signed config lists it, and the switch is one audit entry with the
    figures (reports, weight, credentials, threshold, cap); the trail verifies."""
    contexts = _contexts(server, CREDENTIALS)
    _clear_of_the_hour()
    fingerprint, statuses, _ = _flood(server, contexts, "many_senders")
    [outsider] = _contexts(server, CREDENTIALS + 1)[CREDENTIALS:]  # a certificate that sent none of them
    entries = [e for e in _audit(server, "counts_only.enter") if e.details["fingerprint"] == fingerprint]
    assert ({201: FLOOD}, True, True, 1) == (Counter(statuses), fingerprint in _counts_only(server, contexts[0]),
                                              fingerprint in _counts_only(server, outsider), len(entries))
    details = entries[0].details
    assert ("project", THRESHOLD + 1, CREDENTIALS, THRESHOLD, CAP, "system") == (
        details["scope"], details["weight"], details["credentials"], details["threshold"],
        details["per_credential_cap"], entries[0].actor)
    assert entries[0].subject.startswith("group:")
    verify = subprocess.run([sys.executable, "-m", "crashveil", "audit", "verify", "--server-dir",
                             str(server.dir.path)], capture_output=True, text=True, timeout=120)
    assert 0 == verify.returncode, verify.stderr
