"""HttpsTransport against a real mutual-TLS server on 127.0.0.1, and Retry-After parsing."""

from __future__ import annotations

import email.utils
import ssl
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from crashveil.sdk.transport import HttpsTransport, SendResult, parse_retry_after
from crashveil.wire import protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from https_server import PROJECT, Pki, ReportServer, Scripted, free_port, make_pki

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates generated once for the module."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def client(server: ReportServer, pki: Pki, **overrides: object) -> HttpsTransport:
    settings: dict[str, object] = {"client_cert": str(pki.client_cert), "client_key": str(pki.client_key),
                                   "timeout_s": 5.0}
    settings.update(overrides)
    return HttpsTransport(server.connection(), **settings)  # type: ignore[arg-type]


# -- delivery -------------------------------------------------------------------------------

def test_report_is_delivered_with_the_contract_headers(pki: Pki) -> None:
    """A report is POSTed to the reports path with the sealed content type and gets its receipt."""
    with ReportServer(pki) as server:
        result = client(server, pki).send("report", b"CVS1\x01sealed")
    assert SendResult(status=201, receipt="r-1", retry_after_s=None) == result
    [received] = server.received
    assert (protocol.reports_path(PROJECT), b"CVS1\x01sealed") == (received.path, received.body)
    assert protocol.SEALED_CONTENT_TYPE == received.headers["Content-Type"]
    assert "1" == received.headers[protocol.SCHEMA_HEADER]


def test_client_certificate_is_presented(pki: Pki) -> None:
    """The server sees the client certificate's subject (mutual TLS)."""
    with ReportServer(pki) as server:
        client(server, pki).send("report", b"x")
    subject = dict(pair[0] for pair in server.received[0].client_subject["subject"])
    assert "app install" == subject["commonName"]


def test_deletion_request_goes_to_the_deletion_path(pki: Pki) -> None:
    """A deletion request is POSTed to the deletion path and its request id is the receipt."""
    with ReportServer(pki) as server:
        result = client(server, pki).send("deletion", b"sealed deletion")
    assert SendResult(status=202, receipt="d-1") == result
    assert protocol.deletion_path(PROJECT) == server.received[0].path


def test_unknown_kind_is_a_programming_error(pki: Pki) -> None:
    """Only "report" and "deletion" can be sent (a pending item must never leave)."""
    with ReportServer(pki) as server, pytest.raises(ValueError):
        client(server, pki).send("pending", b"x")


def test_fetch_config_returns_the_body(pki: Pki) -> None:
    """fetch_config GETs the config path and returns the body as bytes."""
    with ReportServer(pki) as server:
        server.config_body = b'{"config": "e30", "signature": "AA"}'
        assert b'{"config": "e30", "signature": "AA"}' == client(server, pki).fetch_config()
        assert protocol.config_path(PROJECT) == server.received[0].path


def test_fetch_config_missing_is_none(pki: Pki) -> None:
    """A 404 or an unreachable server gives None, never an exception."""
    with ReportServer(pki) as server:
        assert None is client(server, pki).fetch_config()
    assert None is client(server, pki).fetch_config()  # server stopped


@pytest.mark.parametrize("status", [400, 413, 415, 422, 500])
def test_error_statuses_are_reported_as_is(pki: Pki, status: int) -> None:
    """Error statuses come back unchanged, without a receipt, for the sender to decide."""
    with ReportServer(pki) as server:
        server.script.append(Scripted(status))
        assert SendResult(status=status) == client(server, pki).send("report", b"x")


def test_429_carries_retry_after(pki: Pki) -> None:
    """A 429 with Retry-After: 120 gives retry_after_s=120."""
    with ReportServer(pki) as server:
        server.script.append(Scripted(429, {"Retry-After": "120"}))
        assert SendResult(status=429, retry_after_s=120.0) == client(server, pki).send("report", b"x")


def test_503_without_retry_after_waits_sixty_seconds(pki: Pki) -> None:
    """A 503 without Retry-After means 60 s."""
    with ReportServer(pki) as server:
        server.script.append(Scripted(503))
        assert SendResult(status=503, retry_after_s=60.0) == client(server, pki).send("report", b"x")


# -- failures that must keep the item (status 0) ----------------------------------------------

@pytest.mark.parametrize("cut", [0, 12])
def test_2xx_cut_off_before_its_receipt_is_status_zero(pki: Pki, cut: int) -> None:
    """A 201 whose body stops short of its Content-Length (the server died mid-answer) is no
    answer: the item stays queued, and its retry gets the receipt. The next answer is whole."""
    body = b'{"receipt": "r-cut", "status": "stored"}'
    with ReportServer(pki) as server:
        server.script.append(Scripted(201, body=body, truncate_at=cut))
        transport = client(server, pki)
        assert (SendResult(status=0), SendResult(status=201, receipt="r-2")) == (
            transport.send("report", b"x"), transport.send("report", b"x"))


def test_server_down_is_status_zero() -> None:
    """Nothing listening on the port gives status 0."""
    connection = protocol.ConnectionString("127.0.0.1", free_port(), PROJECT, "x25519:A", "ed25519:A", b"")
    assert SendResult(status=0) == HttpsTransport(connection, timeout_s=1.0).send("report", b"x")


@pytest.mark.parametrize("which", ["missing", "wrong_ca", "expired"])
def test_bad_client_certificate_fails_the_handshake(pki: Pki, which: str) -> None:
    """No client certificate, one from another CA, or an expired one: the handshake fails, status 0."""
    certs = {
        "missing": {"client_cert": None, "client_key": None},
        "wrong_ca": {"client_cert": str(pki.wrong_ca_client_cert), "client_key": str(pki.wrong_ca_client_key)},
        "expired": {"client_cert": str(pki.expired_client_cert), "client_key": str(pki.expired_client_key)},
    }[which]
    with ReportServer(pki) as server:
        result = client(server, pki, **certs).send("report", b"x")
    assert SendResult(status=0) == result
    assert [] == server.received
    assert 1 == server.handshake_failures


def test_server_from_another_ca_is_refused(pki: Pki) -> None:
    """A server whose certificate does not chain to the pinned CA is refused before sending."""
    with ReportServer(pki) as server:
        transport = HttpsTransport(replace(server.connection(), ca_der=pki.wrong_ca_der),
                                   client_cert=str(pki.client_cert), client_key=str(pki.client_key))
        assert SendResult(status=0) == transport.send("report", b"x")
    assert [] == server.received


def test_server_certificate_for_another_host_is_refused(pki: Pki) -> None:
    """A valid certificate for elsewhere.example does not pass for 127.0.0.1."""
    with ReportServer(pki, wrong_host=True) as server:
        assert SendResult(status=0) == client(server, pki).send("report", b"x")
    assert [] == server.received


def test_hostname_localhost_is_checked_and_accepted(pki: Pki) -> None:
    """Connecting by the name "localhost" works because the certificate names it."""
    with ReportServer(pki) as server:
        transport = HttpsTransport(server.connection(host="localhost"), client_cert=str(pki.client_cert),
                                   client_key=str(pki.client_key))
        assert 201 == transport.send("report", b"x").status


def test_plain_http_server_gets_no_plaintext(pki: Pki) -> None:
    """Against a plain-HTTP server the TLS handshake fails and no request is ever made in clear."""
    with ReportServer(pki, tls=False) as server:
        assert SendResult(status=0) == client(server, pki).send("report", b"secret-ish bytes")
    assert [] == server.received


def test_unreadable_client_key_is_status_zero(pki: Pki, tmp_path: Path) -> None:
    """A client key file that cannot be loaded makes sending fail softly (status 0)."""
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with ReportServer(pki) as server:
        assert SendResult(status=0) == client(server, pki, client_key=str(bad)).send("report", b"x")


def test_context_is_pinned_and_modern(pki: Pki) -> None:
    """The client context trusts only the pinned CA, needs TLS >= 1.2 and checks host names."""
    with ReportServer(pki) as server:
        context = client(server, pki).ssl_context()
    assert ssl.TLSVersion.TLSv1_2 == context.minimum_version
    assert (True, ssl.CERT_REQUIRED) == (context.check_hostname, context.verify_mode)
    assert ["crashveil test CA"] == [dict(p[0] for p in c["subject"])["commonName"]
                                     for c in context.get_ca_certs()]


def test_tls_1_3_is_negotiated(pki: Pki) -> None:
    """Between two modern ends the connection uses TLS 1.3."""
    import http.client

    with ReportServer(pki) as server:
        transport = client(server, pki)
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=transport.ssl_context())
        connection.connect()
        assert "TLSv1.3" == connection.sock.version()
        connection.close()


def test_import_does_not_load_ssl_or_http_client() -> None:
    """Importing the transport module loads neither ssl nor http.client."""
    code = ("import sys, crashveil.sdk.transport; "
            "print(sorted(m for m in ('ssl', 'http.client', 'json', 'email.utils') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip()


# -- Retry-After ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "status", "expected"), [
    ("120", 429, 120.0),
    ("2.5", 429, 2.5),
    ("0", 429, 1.0),
    ("-5", 429, 1.0),
    ("1e309", 429, 300.0),
    ("999999999", 503, 300.0),
    ("nan", 429, 60.0),
    ("soon", 429, 60.0),
    ("", 503, 60.0),
    (None, 429, 60.0),
    (None, 503, 60.0),
    (None, 500, None),
    ("garbage", 200, None),
    ("30", 200, 30.0),
    ("x" * 1000, 429, 60.0),
    (email.utils.formatdate(NOW + 90, usegmt=True), 429, 90.0),
    (email.utils.formatdate(NOW - 3600, usegmt=True), 429, 1.0),
    (email.utils.formatdate(NOW + 86400 * 365, usegmt=True), 429, 300.0),
    ("Wed, 31 Dec 9999 23:59:59 GMT", 429, 300.0),
    ("Mon, 99 Foo 2020 99:99:99 GMT", 429, 60.0),
    ("Wed, 21 Oct 2015 07:28:00", 429, 60.0),
])
def test_retry_after_variants(value: str | None, status: int, expected: float | None) -> None:
    """Seconds, floats, dates, past, negative, huge and garbage values are clamped or defaulted."""
    assert expected == parse_retry_after(value, status, now=NOW)
