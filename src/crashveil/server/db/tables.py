"""Every table of the server, in one file (SQLAlchemy Core).

What is stored in clear is only what aggregates need (project, fingerprint, release, OS
family, hour, consent level, origin, install pseudonym); everything else of a report is in
``reports.detail``: compressed, then AES-256-GCM under the day's data key (``data_keys``),
which is itself wrapped by the key-encryption key. No table has a column for a client IP.

Times are UTC. :class:`UtcDateTime` stores them naive (SQLite has no time zone type) and
hands them back aware. Hours are strings in the wire format's form, ``2026-05-01T13:00Z``;
days are ``2026-05-01``. An unknown release or OS family is ``""`` in key columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["metadata", "UtcDateTime"]

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
})


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


projects = sa.Table(
    "projects", metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Whether the anonymized public summary (k-anonymity + DP) is published.
    sa.Column("public_summary", sa.Boolean(), nullable=False, server_default=sa.false()),
)

# Every policy version a project has had: a report is validated against the policy with
# the digest it was built under.
project_policies = sa.Table(
    "project_policies", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", sa.String(80), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("policy_toml", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Project private keys (HPKE sealing, Ed25519 config signing). The private key is
# encrypted under its own data key, which is wrapped by the KEK: a KEK rotation rewraps
# 61 bytes per key and never touches the key itself. Several server processes or hosts
# over one PostgreSQL share them. After `expires_at` the private parts are erased.
project_keys = sa.Table(
    "project_keys", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "hpke" | "signing"
    sa.Column("algorithm", sa.String(32), nullable=False),  # suite name or "ed25519"
    sa.Column("public_key", sa.Text(), nullable=False),  # key string
    sa.Column("kek_id", sa.String(64), nullable=True),
    sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
    sa.Column("sealed_private", sa.LargeBinary(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("retired_at", UtcDateTime(), nullable=True),  # a newer key took over
    sa.Column("expires_at", UtcDateTime(), nullable=True),  # end of the overlap
    sa.Column("destroyed_at", UtcDateTime(), nullable=True),
    sa.Index(None, "project_id", "kind", "created_at"),
)

# One data key per project and day (the report's received day). Destroying a day's key
# deletes that day's details (crypto-shredding, used by retention).
data_keys = sa.Table(
    "data_keys", metadata,
    sa.Column("key_id", sa.String(96), primary_key=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("kek_id", sa.String(64), nullable=True),
    sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("destroyed_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("project_id", "day"),
)

crash_groups = sa.Table(
    "crash_groups", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("fingerprint", sa.String(40), nullable=False),
    # The exception class name: a code identifier, kept in clear as the group's title.
    sa.Column("crash_type", sa.String(256), nullable=False),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Column("first_release", sa.String(128), nullable=True),
    sa.Column("last_release", sa.String(128), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved | regressed | ignored
    sa.Column("resolved_in", sa.String(128), nullable=True),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("regressed_in", sa.String(128), nullable=True),
    sa.Column("regressed_at", UtcDateTime(), nullable=True),
    sa.Column("total_count", sa.Integer(), nullable=False, server_default="0"),
    # Mass-failure bookkeeping: reports received in `hour_key`, and until when only counts
    # are kept.
    sa.Column("hour_key", sa.String(17), nullable=True),
    sa.Column("hour_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("counts_only_until", UtcDateTime(), nullable=True),
    # `hour_count` with each credential counted at most `mass_failure_per_credential` times
    # (what the counts-only threshold compares), and since when the group is in counts-only
    # mode (NULL: not in it, or its end is already in the audit trail).
    sa.Column("hour_weight", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("counts_only_since", UtcDateTime(), nullable=True),
    # The triage list (migration 0013; ``ingest.titles`` makes them, ``db.triage_tables`` says
    # more): the top in-app frame, and the type, culprit and in-app modules as one search
    # text (code names, shown and searched where ``stack`` is); the latest redacted message
    # template and when it was seen (shown where messages are, within their retention); an
    # install sketch of the whole group and its estimate; reports on the latest received day
    # and the day before (the trend); the assignee.
    sa.Column("culprit", sa.String(256), nullable=True),
    sa.Column("search_code", sa.String(800), nullable=True),  # "type culprit modules": one LIKE
    sa.Column("title_message", sa.String(256), nullable=True),
    sa.Column("title_message_at", UtcDateTime(), nullable=True),
    sa.Column("installs", sa.LargeBinary(), nullable=True),
    sa.Column("install_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("day_key", sa.String(10), nullable=True),
    sa.Column("day_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("prev_day_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("trend", sa.Integer(), nullable=False, server_default="0"),  # day_count - prev_day_count
    sa.Column("assignee", sa.String(128), nullable=True),
    # Triage actions (migration 0014; ``ingest.grouping`` holds the rules): resolved in the
    # release after this one; ignored until a time, a total count or a release after this one,
    # and which of them ended the last ignore; the group this one was merged into; a linked
    # issue in another tracker.
    sa.Column("resolved_after", sa.String(128), nullable=True),
    sa.Column("ignored_until", UtcDateTime(), nullable=True),
    sa.Column("ignored_until_count", sa.Integer(), nullable=True),
    sa.Column("ignored_until_release", sa.String(128), nullable=True),
    sa.Column("ignore_ended", sa.String(16), nullable=True),  # date | count | release
    sa.Column("ignore_ended_at", UtcDateTime(), nullable=True),
    sa.Column("merged_into", sa.Integer(), nullable=True),
    sa.Column("external_url", sa.String(1000), nullable=True),
    # The group page (migration 0016; ``storage.triage`` writes them): the frames of the
    # fingerprint as JSON [[module, function, in_app], ...] (code names, shown where ``stack``
    # is), and the newest report's redacted in-app source lines as JSON [[signature index,
    # line, text], ...] with when it came (shown where ``source_context`` is, in its retention).
    sa.Column("signature", sa.Text(), nullable=True),
    sa.Column("source_lines", sa.Text(), nullable=True),
    sa.Column("source_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("project_id", "fingerprint"),
    sa.Index(None, "project_id", "last_seen", "id"),  # the list's keyset order (migration 0031)
)

reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("report_id", sa.String(36), nullable=False),
    sa.Column("receipt", sa.String(32), nullable=False, unique=True),
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), nullable=False),
    sa.Column("fingerprint", sa.String(40), nullable=False),
    sa.Column("release", sa.String(128), nullable=True),
    sa.Column("os_family", sa.String(32), nullable=True),
    sa.Column("hour", sa.String(17), nullable=False),  # occurred hour, else received hour
    sa.Column("received_hour", sa.String(17), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),  # received day: selects the data key
    sa.Column("level", sa.String(40), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # crashveil-sdk | sentry-sdk
    sa.Column("install_id", sa.String(32), nullable=True),
    sa.Column("policy_digest", sa.String(80), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("data_key_id", sa.String(96), sa.ForeignKey("data_keys.key_id"), nullable=True),
    sa.Column("detail", sa.LargeBinary(), nullable=True),  # NULL: counts-only (mass failure)
    # The deployment ("environment") and platform, as release and OS family (migration 0015:
    # what erasure needs to drop a group's facets; "" none given, NULL stored before 0015).
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("platform", sa.String(128), nullable=True),
    sa.UniqueConstraint("project_id", "report_id"),
    sa.Index(None, "project_id", "install_id"),
    sa.Index(None, "group_id", "received_at"),
    sa.Index(None, "project_id", "day"),
)

group_rollups = sa.Table(
    "group_rollups", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("hour", sa.String(17), primary_key=True),
    sa.Column("release", sa.String(128), primary_key=True),
    sa.Column("os_family", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("counts_only", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "project_id", "hour"),
)

# Reports per group and credential in the group's current hour (one row per pair, its
# `hour` moving on): the weight each credential adds to the counts-only threshold is
# capped (settings.mass_failure_per_credential). `credential` is a digest
# (``cert:<sha256 of the client certificate>``, ``dsn:<sha256 of the DSN key>``, ``-``),
# never the certificate or the key.
group_credential_hours = sa.Table(
    "group_credential_hours", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("credential", sa.String(40), primary_key=True),
    sa.Column("hour", sa.String(17), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    # Counts-only mode of this credential alone for this group (its own reports of an hour
    # passed `mass_failure_per_hour`): until when, and since when (NULL: not in it, or its
    # end is already in the audit trail). Written only when the mode changes.
    sa.Column("counts_only_until", UtcDateTime(), nullable=True),
    sa.Column("counts_only_since", UtcDateTime(), nullable=True),
    # Only the pairs in (or just out of) that mode: the config route and the expiry sweep
    # read these few rows; the per-report upsert never touches the indexed columns.
    sa.Index("ix_group_credential_hours_scoped", "credential",
             sqlite_where=sa.text("counts_only_since IS NOT NULL"),
             postgresql_where=sa.text("counts_only_since IS NOT NULL")),
    postgresql_with={"fillfactor": 70},  # room for HOT updates (migration 0020)
)

# Server-side redaction hits (and unknown fields dropped, detector "_dropped") per
# project x release x field x detector x hour: the regression signal `release check` reads.
redaction_counters = sa.Table(
    "redaction_counters", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("release", sa.String(128), primary_key=True),
    sa.Column("field", sa.String(128), primary_key=True),
    sa.Column("detector", sa.String(64), primary_key=True),
    sa.Column("hour", sa.String(17), primary_key=True),
    sa.Column("hits", sa.Integer(), nullable=False),
    postgresql_with={"fillfactor": 70},  # room for HOT updates (migration 0020)
)

# Erasure requests from the SDK's revoke. The pseudonyms themselves are not kept: the
# record proves that the request was honoured without holding what it erased.
deletion_requests = sa.Table(
    "deletion_requests", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("install_count", sa.Integer(), nullable=False),
    sa.Column("deleted_count", sa.Integer(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("processed_at", UtcDateTime(), nullable=False),
)

# What an erasure leaves so that it stays final (``crashveil.server.governance.tombstones``): keyed
# digests of the erased install pseudonyms and report ids, and when they were erased. No
# pseudonym, report id or report content in clear; retention drops a row once the replay
# window has passed over it.
erasure_tombstones = sa.Table(
    "erasure_tombstones", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", sa.LargeBinary(16), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # install | report
    sa.Column("erased_at", UtcDateTime(), nullable=False, index=True),
)

# --- shared keys over several hosts (migration 0018) ------------------------------------

# One row per server process: the KEKs its KEK set holds, refreshed every kek_heartbeat_s
# (keys/hosts.py). 'keys rotate' rewraps nothing until every live host holds the new KEK.
kek_hosts = sa.Table(
    "kek_hosts", metadata,
    sa.Column("process_id", sa.String(128), primary_key=True),  # host:pid
    sa.Column("host", sa.String(96), nullable=False),
    sa.Column("current_kek", sa.String(64), nullable=False),
    sa.Column("kek_ids", sa.Text(), nullable=False),  # space-separated ids the set holds (never keys)
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

# Secrets every host shares (the audit signing key, the dashboard secret), each 32 bytes
# wrapped by the KEK under key id "secret:<name>" (keys/shared_secrets.py); rewrapped by a
# KEK rotation like the data keys.
shared_secrets = sa.Table(
    "shared_secrets", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kek_id", sa.String(64), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Where a project's alerts may be sent, one row per destination name (migration 0027;
# alerts/destinations/store.py). ``config``: JSON of what an administrator may read (a URL's
# host, an SMTP host, a repository). ``sealed_secrets``: the signing secret, token, password and
# every URL (a URL may carry a credential), AES-256-GCM under the ``destinations`` entry of
# ``shared_secrets`` and bound to the row's project, name and kind.
destinations = sa.Table(
    "destinations", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("config", sa.Text(), nullable=False),
    sa.Column("sealed_secrets", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
