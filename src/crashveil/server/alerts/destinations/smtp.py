"""E-mail over SMTP: one plain-text message per notification.

``security`` is ``starttls`` (port 587, the default), ``ssl`` (implicit TLS, port 465) or
``plain`` (no TLS: a relay on localhost only). Certificates are verified, against the system's
CAs or ``ca_file`` (a relay with a private CA). Log-in is optional
(``username`` and the sealed password). The subject is ``[crashveil] <title>`` with CR, LF and
every other control character replaced (:func:`header_safe`): a crash title cannot add a
header. The body is plain text; its crash strings are defanged and kept on their lines.

Outcomes: accepted is ok; an SMTP 4xx answer, a refused or dropped connection or a timeout
are retryable; a 5xx answer (bad address, log-in refused, message refused) is not.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S
from crashveil.server.alerts.destinations.inert import header_safe, plain_inert
from crashveil.server.alerts.notification import DeliveryResult, Notification

__all__ = ["SECURITY", "EmailDestination", "email_message"]

SECURITY = ("starttls", "ssl", "plain")
_SUBJECT_MAX = 150


def _address_ok(address: str) -> bool:
    return "@" in address and not any(c.isspace() or not c.isprintable() or c in "<>,;\"" for c in address)


def email_message(notification: Notification, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The message for ``notification``: a safe subject, a plain-text body."""
    message = EmailMessage()
    message["Subject"] = f"[crashveil] {header_safe(notification.title, _SUBJECT_MAX)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    lines = [f"crashveil alert ({plain_inert(notification.rule, 32)}): {plain_inert(notification.title, 500)}",
             "", f"Summary: {plain_inert(notification.summary, 1000)}", "",
             f"Open in crashveil: {notification.link}", f"Occurred at: {notification.occurred_at.isoformat()}"]
    if notification.fields:
        lines += ["", "Fields:"]
        lines += [f"  {plain_inert(name, 64)}: {plain_inert(value, 300)}"
                  for name, value in sorted(notification.fields.items())]
    message.set_content("\n".join(lines) + "\n")
    return message


@dataclass
class EmailDestination:
    """Sends each notification to ``recipients`` through the SMTP server ``host``."""

    name: str
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "email"

    def __post_init__(self) -> None:
        where = f"destination {self.name!r}"
        if self.security not in SECURITY:
            raise DestinationError(f"{where}: security must be one of {', '.join(SECURITY)}")
        if not self.recipients or not all(_address_ok(a) for a in (self.sender, *self.recipients)):
            raise DestinationError(f"{where}: sender and recipients must be plain e-mail addresses (one or more to)")
        if not self.host or not 0 < self.port < 65536:
            raise DestinationError(f"{where}: host and a port in 1-65535 are needed")

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                client.starttls(context=context)
            except BaseException:
                client.close()
                raise
        return client

    def deliver(self, notification: Notification) -> DeliveryResult:
        message = email_message(notification, sender=self.sender, recipients=self.recipients)
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))
        except smtplib.SMTPRecipientsRefused:
            return DeliveryResult(ok=False, status=550, detail="every recipient refused", retryable=False)
        except smtplib.SMTPResponseException as exc:
            code = int(exc.smtp_code)
            return DeliveryResult(ok=False, status=code, detail=f"SMTP {code} ({type(exc).__name__})",
                                  retryable=code < 500)
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult(ok=False, status=None, detail=f"connection failed ({type(exc).__name__})",
                                  retryable=True)
        if refused:
            return DeliveryResult(ok=True, status=250, detail=f"sent; {len(refused)} recipient(s) refused",
                                  retryable=False)
        return DeliveryResult(ok=True, status=250, detail="sent", retryable=False)
