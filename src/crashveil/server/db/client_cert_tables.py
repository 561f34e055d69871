"""The register of issued client certificates and their revocations (migration 0008).

Serials are stored as upper-case hex without leading zeros (``format(serial, "X")``); the
server compares them as integers, so the form of ``getpeercert()`` does not matter.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["client_certs"]

client_certs = sa.Table(
    "client_certs", metadata,
    sa.Column("serial", sa.String(48), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("not_after", UtcDateTime(), nullable=True),  # None: recorded at revocation, not issued here
    sa.Column("issued_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)
