"""E-mail through a real local SMTP server (aiosmtpd): the message arrives, its subject cannot
carry a header, log-in works, and refusals map to retryable or not."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

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
