"""Client certificates: the register of issued ones, revocation and renewal.

Issued certificates are recorded (serial, name, expiry) in ``client_certs``; revoking sets
``revoked_at``, durably, in the same database every server process reads. Each process
keeps the revoked serials in memory (:class:`~crashveil.server.http.connections.RevokedSerials`)
and re-reads them every ``revocation_refresh_s``, so a revocation refuses the certificate on
the mutual-TLS listener within seconds, without a restart. Certificates issued before the
register existed are not listed, but can still be revoked by serial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Engine

from crashveil.server.db.client_cert_tables import client_certs
from crashveil.server.db.engine import write_tx

__all__ = ["CertRecord", "serial_hex", "record_issued", "revoke", "revoked_serials", "list_certs",
           "parse_serial"]


@dataclass(frozen=True)
class CertRecord:
    serial: str
    name: str
    not_after: datetime | None
    revoked_at: datetime | None


def serial_hex(serial: int) -> str:
    """The stored form of a serial: upper-case hex, no leading zeros."""
    return format(serial, "X")


def parse_serial(text: str) -> str:
    """``text`` (hex, with or without ``0x`` or colons) in the stored form; ValueError if not hex."""
    cleaned = text.strip().replace(":", "")
    cleaned = cleaned[2:] if cleaned.lower().startswith("0x") else cleaned
    if not cleaned or len(cleaned) > 48:
        raise ValueError("a serial is 1 to 48 hex digits")
    return serial_hex(int(cleaned, 16))


def record_issued(engine: Engine, cert: x509.Certificate, name: str, *, now: datetime) -> str:
    """Add an issued certificate to the register; its serial."""
    serial = serial_hex(cert.serial_number)
    with write_tx(engine) as conn:
        conn.execute(client_certs.insert().values(serial=serial, name=name, not_after=cert.not_valid_after_utc,
                                                  issued_at=now, revoked_at=None))
    return serial


def revoke(engine: Engine, *, now: datetime, name: str | None = None, serial: str | None = None,
           cert_file: Path | None = None) -> list[CertRecord]:
    """Revoke every unrevoked certificate of ``name``, or the one with ``serial``; what was revoked.

    A serial that is not in the register (issued before it existed) is added as revoked,
    named after ``cert_file``'s common name if given, else ``"?"``.
    """
    if (name is None) == (serial is None):
        raise ValueError("give a name or a serial")
    done: list[CertRecord] = []
    with write_tx(engine) as conn:
        if serial is not None:
            row = conn.execute(sa.select(client_certs).where(client_certs.c.serial == serial)).first()
            if row is None:
                conn.execute(client_certs.insert().values(serial=serial, name=name or "?", not_after=None,
                                                          issued_at=None, revoked_at=now))
                return [CertRecord(serial, "?", None, now)]
            rows = [row] if row.revoked_at is None else []
        else:
            rows = list(conn.execute(sa.select(client_certs).where(
                client_certs.c.name == name, client_certs.c.revoked_at.is_(None))))
        for row in rows:
            conn.execute(client_certs.update().where(client_certs.c.serial == row.serial).values(revoked_at=now))
            done.append(CertRecord(row.serial, row.name, row.not_after, now))
    return done


def revoked_serials(engine: Engine) -> set[int]:
    """Every revoked serial, as integers."""
    with engine.connect() as conn:
        return {int(s, 16) for s in conn.execute(
            sa.select(client_certs.c.serial).where(client_certs.c.revoked_at.is_not(None))).scalars()}


def list_certs(engine: Engine, name: str | None = None) -> list[CertRecord]:
    """The register, newest expiry first (optionally of one name)."""
    query = sa.select(client_certs).order_by(client_certs.c.name, client_certs.c.not_after.desc())
    if name is not None:
        query = query.where(client_certs.c.name == name)
    with engine.connect() as conn:
        return [CertRecord(r.serial, r.name, r.not_after, r.revoked_at) for r in conn.execute(query)]
