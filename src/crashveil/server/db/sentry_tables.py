"""Tables of the Sentry-compatible ingest (SQLAlchemy Core), on storage's metadata.

- ``sentry_projects``: the numeric id a Sentry DSN carries (SDK parsers insist on a number)
  for each crashveil project.
- ``sentry_keys``: DSN public keys. Only a SHA-256 of each key is stored, with its first
  eight characters as a lookup prefix; the comparison is constant-time
  (``crashveil.server.sentry.keys``). A revoked key keeps its row (``revoked_at``) so the
  list shows what was revoked and when. Each key has the consent level events sent with it
  are treated at (``NULL``: the policy's lowest level above ``off``); until migration 0006
  the level was the project's, so creating a ``diagnostic`` key raised every other key.
- ``sentry_pseudonym_keys``: the HMAC key that turns a Sentry ``user.id`` into an install
  pseudonym, one per project and rotation period, wrapped by the key-encryption key like
  the data keys. Keys of past periods are deleted when a new period starts, so pseudonyms
  of a past period can no longer be recomputed from user ids.
- ``sentry_outcomes``: per key, counts of events stored and of what was dropped and why
  (Sentry's "outcomes"), added in batches by ``crashveil.server.sentry.outcomes``.

No table holds an IP address, a user id, or any part of an event.
"""

from __future__ import annotations

import sqlalchemy as sa

from crashveil.server.db.tables import UtcDateTime, metadata

__all__ = ["sentry_keys", "sentry_outcomes", "sentry_projects", "sentry_pseudonym_keys"]

sentry_projects = sa.Table(
    "sentry_projects", metadata,
    sa.Column("numeric_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False,
              unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

sentry_keys = sa.Table(
    "sentry_keys", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("numeric_id", sa.Integer(), sa.ForeignKey("sentry_projects.numeric_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("prefix", sa.String(8), nullable=False),
    sa.Column("key_sha256", sa.LargeBinary(32), nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("level", sa.String(40), nullable=True),
    sa.Index(None, "numeric_id", "prefix"),
)

sentry_pseudonym_keys = sa.Table(
    "sentry_pseudonym_keys", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("period", sa.Integer(), primary_key=True),  # days since the epoch // rotation days
    sa.Column("rotation_days", sa.Integer(), primary_key=True),
    sa.Column("kek_id", sa.String(64), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

#: What happened to what each DSN key sent, counted (never content): ``kind`` is ``event``
#: (``subject`` ``error``; ``reason`` ``accepted`` or why it was refused), ``item`` (an
#: envelope item type, and why it was not kept), ``field`` (a fixed field path of an event,
#: and why the mapping, the level's allowlist or the redactor removed it) or ``client`` (a
#: Sentry data category the SDK itself reported discarding in a ``client_report``, and the
#: SDK's reason). Subjects and reasons come from fixed vocabularies
#: (``crashveil.server.sentry.outcomes``), so the table stays small whatever clients send.
sentry_outcomes = sa.Table(
    "sentry_outcomes", metadata,
    sa.Column("key_id", sa.Integer(), sa.ForeignKey("sentry_keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("subject", sa.String(128), primary_key=True),
    sa.Column("reason", sa.String(64), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
)
