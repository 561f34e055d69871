"""When the server's TLS certificate and the local CA expire: the ``/readyz`` details and
the ``crashveil_certificate_expiry_seconds{cert}`` gauge.

What counts is what the process serves, so the files are read once when the app is made
(a certificate renewed on disk is served after a restart). A certificate within
:data:`WARNING_DAYS` of its end is flagged; ``/readyz`` stays 200 (warning, not failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["WARNING_DAYS", "CertExpiry", "CertificateExpiryCollector", "expiry_details", "served_certificates"]

#: Days before its end from which a certificate is flagged in ``/readyz``.
WARNING_DAYS = 30
_RENEW = {"server": "crashveil server renew-cert", "ca": "a new CA: see docs/upgrade.md"}


@dataclass(frozen=True)
class CertExpiry:
    """One served certificate: ``cert`` is ``server`` or ``ca``."""

    cert: str
    not_after: datetime

    def seconds_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds()


def served_certificates(settings: Settings) -> tuple[CertExpiry, ...]:
    """The server certificate and the CA of ``settings`` (none when TLS is off or a file is unreadable)."""
    if not settings.tls:
        return ()
    found = []
    for label, path in (("server", settings.server_cert_path), ("ca", settings.ca_cert_path)):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue  # the listener itself refuses to start without them
        found.append(CertExpiry(label, cert.not_valid_after_utc))
    return tuple(found)


def expiry_details(expiries: tuple[CertExpiry, ...], now: datetime,
                   warning_days: int = WARNING_DAYS) -> dict[str, dict[str, Any]]:
    """``{cert: {"expires", "days_left", "warning"?}}`` for ``/readyz``."""
    details: dict[str, dict[str, Any]] = {}
    for item in expiries:
        days_left = int(item.seconds_left(now) // 86400)
        entry: dict[str, Any] = {"expires": item.not_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "days_left": days_left}
        if days_left < 0:
            entry["warning"] = f"expired: renew it ({_RENEW[item.cert]})"
        elif days_left < warning_days:
            entry["warning"] = f"expires in {days_left} days: renew it ({_RENEW[item.cert]})"
        details[item.cert] = entry
    return details


class CertificateExpiryCollector:
    """``crashveil_certificate_expiry_seconds{cert}``: seconds until each served certificate
    expires (negative once expired), computed at scrape time."""

    def __init__(self, expiries: tuple[CertExpiry, ...], now: Callable[[], datetime]) -> None:
        self.expiries = expiries
        self.now = now

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily("crashveil_certificate_expiry_seconds",
                                  "Seconds until the served TLS certificate (server) and the local CA (ca) expire.",
                                  labels=["cert"])
        now = self.now()
        for item in self.expiries:
            gauge.add_metric([item.cert], item.seconds_left(now))
        yield gauge

