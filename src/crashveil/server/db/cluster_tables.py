"""Tables of a server that runs on several hosts over one database (migration 0019).

- ``server_identity``: one row (``slot`` 1) naming the server the database belongs to; the
  server directory keeps the same id in ``server.id`` (``server/cluster/identity.py``).
- ``cluster_hosts``: each host of the server, by name, with its first and last heartbeat
  (``server/cluster/hosts.py``); the live ones share the rate limits.
- ``leases``: who runs a periodic job (retention) until when (``server/cluster/lease.py``).
- ``cache_versions``: a counter per cache, bumped by writes that change what it holds, so
  other hosts drop their copy within a second (``server/cluster/cache_versions.py``).
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["cache_versions", "cluster_hosts", "leases", "server_identity"]

server_identity = sa.Table(
    "server_identity", metadata,
    sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),  # always 1: one server
    sa.Column("server_id", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

cluster_hosts = sa.Table(
    "cluster_hosts", metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_heartbeat", UtcDateTime(), nullable=False),
)

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),  # "" = nobody (released)
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

cache_versions = sa.Table(
    "cache_versions", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
)
