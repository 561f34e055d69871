"""Tables of governance: users, role grants, API tokens, sessions, failed log-ins, the audit
trail and retention runs. They share :data:`crashveil.server.db.tables.metadata`.

Nothing here holds report content. The audit trail holds ids, action names, field names and
the reason a reader typed; secrets (passwords, tokens, session ids) are stored only as
hashes (argon2id for passwords, SHA-256 for random 256-bit tokens).

The schema is created by the migration ``0003_governance`` and completed by
``0010_login_hardening`` (``db/migrations/versions``);
:func:`create_governance_tables` exists for tests that build a bare database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = [
    "users",
    "role_grants",
    "api_tokens",
    "sessions",
    "login_failures",
    "login_nonces",
    "audit_entries",
    "audit_head",
    "audit_checkpoint",
    "retention_runs",
    "retention_stripped",
    "privacy_incidents",
    "field_stops",
    "GOVERNANCE_TABLES",
    "create_governance_tables",
]

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
)

# One row per (user, project, role). project_id "*" is every project (server-wide admin).
role_grants = sa.Table(
    "role_grants", metadata,
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", sa.String(63), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("granted_at", UtcDateTime(), nullable=False),
)

# API tokens: "cvt_<token_id>_<secret>"; only sha256(secret) is kept. Scopes are
# comma-separated project ids and roles; a token never exceeds its user's current grants.
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("projects", sa.Text(), nullable=False),
    sa.Column("roles", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
    # API scopes (governance.token_scopes.SCOPES), comma-separated; uses written at most once a minute
    sa.Column("scopes", sa.Text(), nullable=False, server_default=""),
    sa.Column("use_count", sa.Integer(), nullable=False, server_default="0"),
)

# Dashboard sessions, server-side so that log-out and disabling a user end them at once.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Index(None, "user_id"),
)

# Failed (and running) log-in attempts per account, for the per-account limit. ``account`` is
# the hex HMAC of the typed name under the dashboard secret (login_guard.account_digest),
# never the name. Pruned by the retention run after a day. No client address is ever stored.
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index(None, "account", "at"),
)

# Log-in form nonces already used (SHA-256 of the nonce), so each form posts once. Rows are
# deleted when the nonce could no longer be valid anyway (dashboard/login_flow.py).
login_nonces = sa.Table(
    "login_nonces", metadata,
    sa.Column("nonce_sha256", sa.String(64), primary_key=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index(None, "expires_at"),
)

# The append-only, hash-chained audit trail. `at` is kept as the exact text that was hashed.
audit_entries = sa.Table(
    "audit_entries", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(96), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("project_id", sa.String(63), nullable=True),
    sa.Column("subject", sa.String(256), nullable=True),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index(None, "action", "at"),
    # The privacy page lists signed-in users' entries apart from anonymous ones.
    sa.Index(None, "actor", "seq"),
)

# One row (id = 1): the newest entry. Appenders lock it, so concurrent appends never fork
# the chain. It is a lock and a shortcut, not an anchor: the anchor is the signed
# checkpoint file outside the database.
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The signed audit checkpoint every host reads and advances (migration 0018): one row,
# moved forward under its row lock; each host also keeps a copy in audit/head.json.
audit_checkpoint = sa.Table(
    "audit_checkpoint", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("public_key", sa.String(128), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
)

# Evidence of each retention run (Art. 5(2): the controller must be able to demonstrate).
retention_runs = sa.Table(
    "retention_runs", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
)

# Per project and received day: the fields whose retention is <= `retention_days` have been
# removed from that day's details (re-encrypted under a fresh day key). See retention.py.
retention_stripped = sa.Table(
    "retention_stripped", metadata,
    sa.Column("project_id", sa.String(63), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("retention_days", sa.Integer(), primary_key=True),
    sa.Column("stripped_at", UtcDateTime(), nullable=False),
)

# Field stops and privacy incidents (migration 0022; ``governance/lifecycle/``). A field stop
# is "stop collecting this field", for one project or every one (project_id NULL), from
# `since` until lifted; `source` is "incident" or "manual". A privacy incident is a suspected
# leak through one field: releases (a JSON list; empty: every release), the time range of
# received reports, why, who opened it, its state (open, purged, closed) and closing summary.
# Neither holds report content: field names, release strings, times, reasons typed by staff.
privacy_incidents = sa.Table(
    "privacy_incidents", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), nullable=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("releases", sa.Text(), nullable=False),
    sa.Column("since", UtcDateTime(), nullable=False),
    sa.Column("until", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("summary", sa.Text(), nullable=True),
)

field_stops = sa.Table(
    "field_stops", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), nullable=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("since", UtcDateTime(), nullable=False),
    sa.Column("lifted_at", UtcDateTime(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("incident_id", sa.Integer(), sa.ForeignKey("privacy_incidents.id", ondelete="SET NULL"),
              nullable=True),
    sa.Index(None, "project_id", "lifted_at"),
)

GOVERNANCE_TABLES = (users, role_grants, api_tokens, sessions, login_failures, login_nonces, audit_entries,
                     audit_head, retention_runs, retention_stripped, audit_checkpoint, privacy_incidents, field_stops)


def create_governance_tables(conn: Connection) -> None:
    """Create the governance tables (tests of a bare database; servers use the migration)."""
    metadata.create_all(conn, tables=list(GOVERNANCE_TABLES))
    if conn.execute(sa.select(audit_head.c.id)).first() is None:
        conn.execute(audit_head.insert().values(id=1, seq=0, hash="0" * 64))
