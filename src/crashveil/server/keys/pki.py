"""The server's own small PKI: a local CA, the server certificate, client certificates.

The SDK pins the CA (its DER travels in the connection string), so no public CA and no
system trust store are involved. Keys are ECDSA P-256 (fast handshakes, universally
supported by TLS 1.3 stacks); certificates are X.509 v3 with the extensions a strict
verifier expects (basic constraints, key usage, extended key usage, subject and authority
key identifiers, SAN).

Private keys are written with mode 0600 from the first byte (``os.open`` with the mode,
never chmod after the fact) and never overwritten.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crashveil.errors import ConfigError

__all__ = [
    "LOOPBACK_NAMES",
    "IssuedCert",
    "create_ca",
    "issue_server_cert",
    "issue_client_cert",
    "write_private_key",
    "write_certificate",
    "load_ca",
]

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
CA_DAYS = 3650
# 397 days: the longest leaf lifetime browsers accept; clients here are not browsers, but a
# yearly renewal is a good habit for the key that faces the network.
SERVER_DAYS = 397
# 90 days: a client certificate ships inside apps, so a short life bounds what a leaked one
# is worth; renew with 'crashveil server renew-client-cert' and revoke the old one.
CLIENT_DAYS = 90


@dataclass(frozen=True)
class IssuedCert:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "crashveil"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


#: A DNS name: dot-separated labels of letters, digits and inner hyphens (an optional leading
#: ``*.`` wildcard); a space, an underscore or a slash is no host name.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_LABELS = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*\.?")


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    seen = set()
    for name in names:
        name = name.strip()
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            if not _HOST_LABELS.fullmatch(name) or not all(len(part) < 64 for part in name.split(".")) \
                    or len(name) > 253:
                raise ConfigError("server_names", f"{name!r} is not a host name or IP address",
                                  "DNS names or IP addresses") from None
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def create_ca(common_name: str, *, now: datetime, days: int = CA_DAYS) -> IssuedCert:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    return IssuedCert(cert, key)


def _leaf(ca: IssuedCert, common_name: str, *, now: datetime, days: int, usage: x509.ObjectIdentifier,
          san: x509.SubjectAlternativeName | None) -> IssuedCert:
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + timedelta(days=days), ca.certificate.not_valid_after_utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(ca.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
                              critical=False))
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return IssuedCert(builder.sign(ca.private_key, hashes.SHA256()), key)


def issue_server_cert(ca: IssuedCert, names: Sequence[str] = (), *, now: datetime,
                      days: int = SERVER_DAYS) -> IssuedCert:
    """A TLS server certificate for the loopback names plus ``names``."""
    all_names = [*LOOPBACK_NAMES, *names]
    return _leaf(ca, "crashveil server", now=now, days=days, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                 san=_san(all_names))


def issue_client_cert(ca: IssuedCert, name: str, *, now: datetime, days: int = CLIENT_DAYS) -> IssuedCert:
    """A TLS client certificate whose common name is ``name`` (an app or a team, not a person)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError("name", f"{name!r} is not a usable client name", "letters, digits, '-', '_', '.'")
    return _leaf(ca, name, now=now, days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH, san=None)


def write_private_key(path: Path, issued: IssuedCert) -> None:
    """Write the key PEM to a new file with mode 0600; ConfigError if it exists."""
    _write_new(path, issued.key_pem(), 0o600)


def write_certificate(path: Path, issued: IssuedCert) -> None:
    _write_new(path, issued.cert_pem(), 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConfigError(
            str(path), "already exists", "a path that is not taken (files are never overwritten)"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def load_ca(cert_path: Path, key_path: Path) -> IssuedCert:
    """The CA written by ``crashveil server init``."""
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            str(cert_path), "cannot load the local CA", "files written by 'crashveil server init'"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(str(key_path), "is not an EC private key", "the CA key from 'crashveil server init'")
    return IssuedCert(cert, key)


def ca_der(cert_path: Path) -> bytes:
    """The CA certificate as DER (what the connection string pins)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)
