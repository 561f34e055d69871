"""E-mail through a real local SMTP server (aiosmtpd): the message arrives, its subject cannot
carry a header, log-in works, and refusals map to retryable or not."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crashveil.server.alerts.destinations.smtp import EmailDestination
from crashveil.server.alerts.notification import Notification


class Mailbox:
    """Keeps each message; refuses recipients at ``nobody@``."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _check_login(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=_check_login,
                            auth_require_tls=False)
    controller.start()
    yield mailbox, port
    controller.stop()


def _destination(port: int, **overrides: Any) -> EmailDestination:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": "plain", "sender": "crashveil@ops.example",
                              "recipients": ("dev@team.example", "oncall@team.example")}
    values.update(overrides)
    return EmailDestination("mail", **values)


def test_message_arrives_with_a_safe_subject(smtp: tuple[Mailbox, int], canary: str,
                                             make_notification: Callable[..., Notification]) -> None:
    """A title with CR/LF and ``Bcc:`` makes one subject line and no header; the body is plain text."""
    mailbox, port = smtp
    before = len(mailbox.envelopes)
    result = _destination(port).deliver(make_notification(canary, release="1.2.0"))
    envelope = mailbox.envelopes[before]
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    assert (True, "sent") == (result.ok, result.detail)
    assert ["dev@team.example", "oncall@team.example"] == envelope.rcpt_tos
    assert (None, "text/plain") == (message["Bcc"], message.get_content_type())
    assert str(message["Subject"]).startswith("[crashveil] KeyError <!channel> @everyone")
    assert "> Bcc: victim@example.com /cl" in str(message["Subject"])  # one line, cut at 150
    assert "Open in crashveil: https://crash.example/dashboard/projects/demo/groups/42" in text
    assert "  release: 1.2.0" in text
    assert not any(line.startswith(("Bcc", "/close")) for line in text.splitlines())
    assert "@everyone" not in text and "http://evil" not in text


def test_login(smtp: tuple[Mailbox, int], make_notification: Callable[..., Notification]) -> None:
    _, port = smtp
    good = _destination(port, username="alerts", password="s3cret").deliver(make_notification())
    bad = _destination(port, username="alerts", password="wrong").deliver(make_notification())
    assert (True, False, 535, False) == (good.ok, bad.ok, bad.status, bad.retryable)
    assert "s3cret" not in bad.detail and "wrong" not in bad.detail


def test_refusals(smtp: tuple[Mailbox, int], make_notification: Callable[..., Notification]) -> None:
    """Every recipient refused: not retryable; no server listening: retryable."""
    _, port = smtp
    refused = _destination(port, recipients=("nobody@team.example",)).deliver(make_notification())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = _destination(int(probe.getsockname()[1])).deliver(make_notification())
    assert (False, False) == (refused.ok, refused.retryable)
    assert (False, None, True) == (down.ok, down.status, down.retryable)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the private CA an internal relay would have)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls(security: str, tls_files: tuple[Path, Path], make_notification: Callable[..., Notification]) -> None:
    """STARTTLS (the server requires it) and implicit TLS, the certificate verified against
    ``ca_file``; without it (the system's CAs) the same server is refused, retryably."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    mailbox = Mailbox()
    tls = {"tls_context": context, "require_starttls": True} if security == "starttls" else {"ssl_context": context}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    try:
        sent = _destination(port, security=security, ca_file=str(cert)).deliver(make_notification())
        unverified = _destination(port, security=security).deliver(make_notification())
    finally:
        controller.stop()
    assert (True, 1) == (sent.ok, len(mailbox.envelopes))
    assert (False, True, "connection failed (SSLCertVerificationError)") == (
        unverified.ok, unverified.retryable, unverified.detail)
