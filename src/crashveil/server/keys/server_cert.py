"""Renewing the server's TLS certificate from the local CA (``crashveil server renew-cert``).

The new certificate keeps every name of the current one (and of the ``server_names``
setting) and adds the names asked for; the loopback names are always there. Apps pin the CA,
not the server certificate, so they need nothing new. The current pair is kept beside it as
``server.SERIAL.pem`` / ``.key`` (hard links: never overwritten), then the new pair replaces
``server.pem`` / ``server.key`` by rename. A running server keeps serving the certificate it
loaded at start until it is restarted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from crashveil.errors import ConfigError
from crashveil.server.keys import pki

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["RenewedCert", "certificate_names", "renew"]


@dataclass(frozen=True)
class RenewedCert:
    serial: str
    names: tuple[str, ...]
    added: tuple[str, ...]
    not_after: datetime
    replaces: str
    kept_cert: Path


def certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses of ``cert``'s SAN, in its order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    names += san.get_values_for_type(x509.DNSName)
    return tuple(names)


def _canonical(name: str) -> str:
    name = name.strip()
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name.strip("[]")))
    return name.lower()


def renew(settings: Settings, *, added_names: Sequence[str] = (), days: int | None = None,
          now: datetime) -> RenewedCert:
    """Issue a new server certificate with the current names plus ``added_names`` and put it in place.

    Raises:
        ConfigError: the CA or the current certificate cannot be read, or a name is not a
            host name or IP address (checked before anything is written).
    """
    ca = pki.load_ca(settings.ca_cert_path, settings.ca_key_path)
    cert_path, key_path = settings.server_cert_path, settings.server_key_path
    try:
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(str(cert_path), "cannot read the server certificate",
                          "the file written by 'crashveil server init'") from exc
    loopback = {_canonical(n) for n in pki.LOOPBACK_NAMES}
    names: list[str] = []
    for name in (*certificate_names(current), *settings.server_names, *added_names):
        canonical = _canonical(name)
        if canonical and canonical not in loopback and canonical not in names:
            names.append(canonical)
    issued = pki.issue_server_cert(ca, names, now=now, days=days or pki.SERVER_DAYS)
    old_serial = f"{current.serial_number:x}"
    staged_cert, staged_key = cert_path.with_name("server.new.pem"), key_path.with_name("server.new.key")
    for stale in (staged_cert, staged_key):  # left by an interrupted renewal: ours to replace
        stale.unlink(missing_ok=True)
    pki.write_private_key(staged_key, issued)
    pki.write_certificate(staged_cert, issued)
    kept_cert = cert_path.with_name(f"server.{old_serial}.pem")
    for path, kept in ((cert_path, kept_cert), (key_path, key_path.with_name(f"server.{old_serial}.key"))):
        if path.exists() and not kept.exists():
            os.link(path, kept)
    os.replace(staged_key, key_path)
    os.replace(staged_cert, cert_path)
    _fsync_dir(cert_path.parent)
    previous = {_canonical(n) for n in certificate_names(current)}
    cert = issued.certificate
    return RenewedCert(serial=f"{cert.serial_number:x}", names=certificate_names(cert),
                       added=tuple(n for n in names if n not in previous), not_after=cert.not_valid_after_utc,
                       replaces=old_serial, kept_cert=kept_cert)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
