"""The audit trail: append-only, hash-chained, its head signed and checkpointed outside the
database.

Each entry's hash is SHA-256 over a label and the canonical JSON of ``[seq, at, actor,
action, project_id, subject, detail, prev_hash]``; the first entry links to 64 zeros. An
edited entry no longer matches its hash; a removed, inserted or reordered one breaks the
sequence numbers or the links. Someone who can write the database can still rewrite the
whole chain consistently, or cut off its tail: the **checkpoint** catches both. After every
append the newest ``(seq, hash)`` is signed with the server's audit key (Ed25519, shared by
every host: in the database wrapped by the KEK, ``keys/shared_secrets.py``; a database thief
without the KEK cannot sign) and written to the ``audit_checkpoint`` row, which every host
advances under its row lock, and to this host's ``audit/head.json``: a copy outside the
database that only moves forward, so a database rolled back behind it is still caught.
:meth:`AuditTrail.verify` recomputes the chain and checks that the
signed head is still in it. Copy ``head.json`` (or the printed head) to another system for an
anchor that also survives someone who owns the whole server directory.

Entries hold ids, action names, field names, counts and a reader's stated reason; never
report content. Erasing reports therefore never touches the chain (RELIABILITY.md 4.3).

Concurrency: appenders lock the single ``audit_head`` row (``FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so appends are serialised and the chain never forks. The
checkpoint file only moves forward (a file lock plus a sequence check), so appenders that
finish out of order cannot move it back. An entry recorded inside a caller's transaction
(``conn=``) is checkpointed by the next append or :meth:`AuditTrail.checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import AuditTamperedError, ConfigError
from crashveil.server.db.engine import is_sqlite, read_tx, write_tx
from crashveil.server.db.governance_tables import audit_entries, audit_head
from crashveil.server.governance.audit_store import (
    Checkpoint,
    file_lock,
    has_checkpoint_table,
    load_or_create_audit_key,
    lock_shared_checkpoint,
    provider_of,
    read_file_checkpoint,
    read_shared_checkpoint,
    write_file_checkpoint,
    write_shared_checkpoint,
)
from crashveil.server.keys.crypto import SigningKey
from crashveil.server.keys.shared_secrets import KeyWrapper
from crashveil.wire import keyfmt
from crashveil.wire.canonical import canonical_json

__all__ = [
    "ACTIONS",
    "BEHIND_HINT",
    "GENESIS",
    "REANCHOR_ACTIONS",
    "AuditEntry",
    "AuditTrail",
    "Checkpoint",
    "VerifyResult",
    "entry_hash",
    "load_or_create_audit_key",
]

GENESIS = "0" * 64
_HASH_LABEL = b"crashveil/audit/v1\x00"

#: The actions the server records. Others may be added; they must match ``_ACTION_RE``.
ACTIONS: Mapping[str, str] = {
    "report.read": "a user opened one report (reason, fields shown)",
    "login.success": "a user logged in",
    "login.failure": "a log-in failed (wrong password or unknown name); anonymous entries are rate-limited "
                     "and 'suppressed' counts those left out before this one (login_guard.py)",
    "login.blocked": "a log-in was refused by the failed-log-in limit (rate-limited like login.failure)",
    "logout": "a session ended",
    "user.add": "a user was created",
    "user.disable": "a user was disabled; their sessions and tokens end",
    "role.grant": "a role was granted on a project",
    "role.revoke": "a role was revoked on a project",
    "token.create": "an API token was created",
    "token.revoke": "an API token was revoked",
    "token.use": "an API token changed a group, read a report, or listed or revoked tokens (actor: its user; "
                 "detail: the operation)",
    "policy.change": "a project's policy changed",
    "key.rotate": "a key was rotated",
    "key.destroy": "a key was destroyed",
    "retention.run": "expired data was deleted and day keys destroyed",
    "erasure": "an erasure request was processed",
    "project.create": "a project was created",
    "sentry_key.create": "a Sentry DSN key was created (label, consent level)",
    "sentry_key.level": "the consent level of a Sentry DSN key's events changed (from, to)",
    "sentry_key.revoke": "a Sentry DSN key was revoked",
    "group.status": "a crash group was resolved (now, in a release, in the next release), ignored (until a date, "
                    "a count of further reports, a new release, or reopened by hand) or reopened",
    "group.assign": "a crash group was assigned to a user (user:<id>), or to no one",
    "counts_only.enter": "a group entered counts-only mode, for one credential or project-wide (detail scope)",
    "counts_only.leave": "a group left counts-only mode, for one credential or project-wide (detail scope)",
    "client_cert.issue": "a client certificate was issued (serial, name, expiry)",
    "client_cert.renew": "a client certificate was issued to replace one of the same name",
    "client_cert.revoke": "a client certificate was revoked (serial, name)",
    "server_cert.renew": "the server's TLS certificate was renewed (serial, names, names added, replaced serial)",
    "schema.upgrade": "the database schema was upgraded (from, to, steps)",
    "server.restore": "the server directory was restored from a backup (backup time, audit head); the checkpoint "
                      "was re-anchored to this entry",
    "audit.reanchor": "an operator re-anchored the checkpoint to this entry (reason, the checkpoint it replaced), "
                      "after a database restored from an older copy",
    "group.note.add": "an internal note was added to a crash group (note id, length, redactions; never its text)",
    "group.note.delete": "an internal note of a crash group was deleted by its author (note id)",
    "group.merge": "crash groups were merged into this one (the merged group ids)",
    "group.unmerge": "a crash group was taken out of the group it was merged into (that group's id)",
    "group.link": "a crash group's external issue link was set or removed (the link's host only)",
    "destination.add": "an alert destination was added (name, kind; never its secret)",
    "destination.remove": "an alert destination was removed (name, kind)",
    "erasure.by_code": "a privacy officer erased an installation's reports by its installation code (reason, "
                       "periods, reports deleted; never the code or a pseudonym)",
    "incident.open": "a privacy incident was opened (field, releases, time range, reason) and the field stopped",
    "incident.purge": "one day of an incident's purge: details re-encrypted under a fresh day key, the field removed",
    "incident.purged": "an incident's purge finished (reports in scope, details purged, groups cleared)",
    "incident.close": "a privacy incident was closed (summary; whether its field stop was lifted)",
    "feedback.read": "a user read one privacy feedback item (reason)",
    "feedback.reply": "a privacy feedback item was answered (length, redactions; never the text)",
    "feedback.close": "a privacy feedback item was closed",
}
#: Actions that re-anchor the checkpoint (:meth:`AuditTrail.reanchor`).
REANCHOR_ACTIONS = ("server.restore", "audit.reanchor")
#: What an operator is told when the trail is behind its checkpoint.
BEHIND_HINT = ("the database is older than the signed checkpoint (restored from an earlier copy?): restore with "
               "'crashveil server restore', or, if this database was restored on purpose, re-anchor with "
               "'crashveil server reanchor-audit --reason TEXT'")
_ACTION_RE = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)*$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.:@*/+=-]{0,256}$")
_MAX_TEXT = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AuditEntry:
    """One entry as stored; ``detail`` is the canonical JSON text that was hashed."""

    seq: int
    at: str
    actor: str
    action: str
    project_id: str | None
    subject: str | None
    detail: str
    prev_hash: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        value = json.loads(self.detail)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True)
class VerifyResult:
    """What :meth:`AuditTrail.verify` found. ``first_bad`` is the first sequence number that
    is wrong or missing (``None`` when the chain itself is intact)."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    checkpoint_seq: int | None
    first_bad: int | None = None
    problem: str | None = None


def entry_hash(seq: int, at: str, actor: str, action: str, project_id: str | None,
               subject: str | None, detail: str, prev_hash: str) -> str:
    """The hash of one entry (hex SHA-256 over the label and the canonical JSON)."""
    body = canonical_json([seq, at, actor, action, project_id, subject, detail, prev_hash])
    return hashlib.sha256(_HASH_LABEL + body).hexdigest()


def _row_hash(row: Any) -> str:
    return entry_hash(row.seq, row.at, row.actor, row.action, row.project_id, row.subject, row.detail,
                      row.prev_hash)


def _format_at(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the audit clock must return aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_text(key: str, value: str) -> str:
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise ValueError(f"audit detail {key}: text longer than {_MAX_TEXT} or with control characters")
    return value


def _check_detail(detail: Mapping[str, Any] | None) -> str:
    """Canonical JSON of ``detail``; flat values only (ids, names, counts, lists of them)."""
    clean: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        if not _ACTION_RE.match(key):
            raise ValueError(f"audit detail key {key!r} is not a lower-case identifier")
        if value is None or isinstance(value, (bool, int)):
            clean[key] = value
        elif isinstance(value, str):
            clean[key] = _check_text(key, value)
        elif isinstance(value, (list, tuple, frozenset, set)):
            items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
            for item in items:
                if isinstance(item, str):
                    _check_text(key, item)
                elif not isinstance(item, int) or isinstance(item, bool):
                    raise ValueError(f"audit detail {key}: list items must be str or int")
            clean[key] = items
        else:
            raise ValueError(f"audit detail {key}: {type(value).__name__} is not allowed (ids, names, counts)")
    return canonical_json(clean).decode("utf-8")


def _public_key_of(key_string: str) -> ed25519.Ed25519PublicKey:
    _, raw = keyfmt.parse_key_string(key_string, ("ed25519",), key="audit public key")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


class AuditTrail:
    """Append to, checkpoint and verify the audit trail.

    Args:
        engine: the server database.
        key: the audit signing key (:func:`load_or_create_audit_key`).
        checkpoint_path: where the signed head is written (outside the database).
        now: the clock, returning aware datetimes.
    """

    def __init__(self, engine: Engine, *, key: SigningKey | Callable[[], SigningKey], checkpoint_path: Path,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), shared: bool = True) -> None:
        self.engine = engine
        # A loader is called on first use (and again after a failure): a host that lacks the
        # KEK of the shared key still starts, answers 503 and fails readiness until it has it.
        self._key: SigningKey | None = key if isinstance(key, SigningKey) else None
        self._load_key: Callable[[], SigningKey] | None = None if isinstance(key, SigningKey) else key
        self.checkpoint_path = Path(checkpoint_path)
        self._now = now
        # The checkpoint is also kept in the database (table audit_checkpoint), for every host.
        self._shared = shared and has_checkpoint_table(engine)

    @classmethod
    def for_server_dir(cls, engine: Engine, server_dir: Path, *, now: Callable[[], datetime] | None = None,
                       provider: KeyWrapper | None = None) -> AuditTrail:
        """The trail of a server directory: the signing key every host shares (in the database,
        wrapped by the KEK; this host's ``keys/audit_ed25519.key`` seeds it the first time),
        the checkpoint in the database with a copy in ``audit/head.json``.

        ``provider`` (the KEK provider, or the key ring: it notes failures for ``/readyz``)
        defaults to the KEK provider of the directory's settings. The key is read on first
        use. A schema older than 0018 (a tool running before ``server upgrade``) uses the
        file key alone.
        """
        from crashveil.server.keys.shared_secrets import AUDIT_SIGNING, has_shared_secrets_table, shared_secret

        server_dir = Path(server_dir)
        key_path = server_dir / "keys" / "audit_ed25519.key"
        clock = now if now is not None else (lambda: datetime.now(UTC))
        head_path = server_dir / "audit" / "head.json"
        if provider is None:
            provider = provider_of(server_dir)
        if provider is None or not has_shared_secrets_table(engine):
            return cls(engine, key=load_or_create_audit_key(key_path), checkpoint_path=head_path, now=clock,
                       shared=False)
        keys = provider

        def load() -> SigningKey:
            return SigningKey.from_private_bytes(shared_secret(
                engine, keys, AUDIT_SIGNING, seed=lambda: load_or_create_audit_key(key_path).private_bytes()))
        return cls(engine, key=load, checkpoint_path=head_path, now=clock)

    @property
    def public_key(self) -> str:
        """``ed25519:<base64url>``: give it to whoever checks the checkpoint elsewhere."""
        return self._signing_key().public_key_string()

    def _signing_key(self) -> SigningKey:
        if self._key is None:
            assert self._load_key is not None
            self._key = self._load_key()
        return self._key

    # -- appending ----------------------------------------------------------------------------
    def record(self, action: str, *, actor: str, project_id: str | None = None, subject: str | None = None,
               detail: Mapping[str, Any] | None = None, conn: Connection | None = None) -> AuditEntry:
        """Append one entry and return it.

        Args:
            action: a name from :data:`ACTIONS` (or another dotted lower-case name).
            actor: who acted, as an id: ``user:3``, ``token:ab12``, ``cli``, ``system``.
            project_id: the project concerned, if any.
            subject: the object acted on, as an id (``report:<uuid>``, ``user:5``).
            detail: flat ids, names, counts (never report content).
            conn: append inside this write transaction; the checkpoint then follows on the
                next append or :meth:`checkpoint`.

        Raises:
            ValueError: a name or a detail value does not have the allowed form.
        """
        if not _ACTION_RE.match(action):
            raise ValueError(f"audit action {action!r} is not a dotted lower-case name")
        for name, value in (("actor", actor), ("subject", subject), ("project_id", project_id)):
            if value is not None and not _ID_RE.match(value):
                raise ValueError(f"audit {name} must be an id (letters, digits, _.:@*/+=-), at most 256 chars")
        detail_text = _check_detail(detail)
        if conn is not None:
            return self._append(conn, action, actor, project_id, subject, detail_text)
        with write_tx(self.engine) as own:
            entry = self._append(own, action, actor, project_id, subject, detail_text)
        self._advance(entry.seq, entry.hash)
        return entry

    def _append(self, conn: Connection, action: str, actor: str, project_id: str | None,
                subject: str | None, detail: str) -> AuditEntry:
        query = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        if not is_sqlite(conn):
            query = query.with_for_update()
        head = conn.execute(query).first()
        if head is None:
            conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            head = conn.execute(query).first()
            assert head is not None
        seq, prev = int(head.seq) + 1, head.hash
        at = _format_at(self._now())
        digest = entry_hash(seq, at, actor, action, project_id, subject, detail, prev)
        conn.execute(audit_entries.insert().values(
            seq=seq, at=at, actor=actor, action=action, project_id=project_id, subject=subject,
            detail=detail, prev_hash=prev, hash=digest))
        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=digest))
        return AuditEntry(seq, at, actor, action, project_id, subject, detail, prev, digest)

    # -- checkpoint ---------------------------------------------------------------------------
    def read_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, signature not yet checked: the database's (shared by every
        host), unless this host's ``head.json``, signed by the same key, is ahead of it or does
        not verify (the database was restored from an older copy, or the file was altered)."""
        if not self._shared:
            return read_file_checkpoint(self.checkpoint_path)
        with read_tx(self.engine) as conn:
            shared = read_shared_checkpoint(conn)
        return self._newest(shared)

    def _newest(self, shared: Checkpoint | None) -> Checkpoint | None:
        """``shared`` (the database's), or this host's file where it is ahead of it, does not
        verify, or is all there is."""
        local = read_file_checkpoint(self.checkpoint_path)
        if shared is None:
            return local
        if local is not None and local.public_key == shared.public_key and (
                local.seq > shared.seq or self.checkpoint_problem(local)):
            return local
        return shared

    def checkpoint_problem(self, cp: Checkpoint, *, public_key: str | None = None) -> str | None:
        """Why ``cp`` is not a valid signature by the audit key (or ``public_key``), or ``None``."""
        expected = public_key or self.public_key
        if cp.public_key != expected:
            return "the checkpoint was signed by another key than the server's audit key"
        import base64

        try:
            signature = base64.urlsafe_b64decode(cp.signature + "=" * (-len(cp.signature) % 4))
            _public_key_of(expected).verify(signature, cp.signed_bytes())
        except (InvalidSignature, ValueError, ConfigError):
            return "the checkpoint's signature is not valid (the head was forged or altered)"
        return None

    def checkpoint(self) -> Checkpoint | None:
        """Sign the database's newest entry, after checking the old checkpoint is still in the chain.

        Raises:
            AuditTamperedError: the old checkpoint's signature is invalid, or its entry is
                gone or changed (the chain was truncated or replaced); nothing is signed.
        """
        with read_tx(self.engine) as conn:
            row = conn.execute(sa.select(audit_entries.c.seq, audit_entries.c.hash)
                               .order_by(audit_entries.c.seq.desc()).limit(1)).first()
        if row is None:
            return self.read_checkpoint()
        return self._advance(int(row.seq), row.hash)

    def reanchor(self, action: str, *, actor: str, detail: Mapping[str, Any]) -> AuditEntry:
        """Append ``action`` (one of :data:`REANCHOR_ACTIONS`) and sign it as the head, replacing a
        checkpoint the chain no longer reaches (a database restored from an older copy).

        The chain itself must be intact; the entry names the checkpoint it replaces, so the
        trail states that (and when) it was re-anchored.

        Raises:
            AuditTamperedError: the chain itself is broken (an entry changed or missing).
        """
        if action not in REANCHOR_ACTIONS:
            raise ValueError(f"{action!r} is not a re-anchoring action")
        chain = self.verify(against_checkpoint=False)
        if not chain.ok:
            raise AuditTamperedError(f"the audit chain itself is broken ({chain.problem}); not re-anchoring")
        old = self.read_checkpoint()
        full = dict(detail)
        full.update({"replaced_checkpoint_seq": old.seq if old else None,
                     "replaced_checkpoint_at": old.at if old else None, "trail_head_seq": chain.head_seq})
        detail_text = _check_detail(full)
        with write_tx(self.engine) as own:
            entry = self._append(own, action, actor, None, None, detail_text)
        self._advance(entry.seq, entry.hash, reanchor=True)
        return entry

    def _advance(self, seq: int, digest: str, *, reanchor: bool = False) -> Checkpoint:
        """Move the checkpoint forward to (``seq``, ``digest``): in the database under its row
        lock (every host), then this host's file. Never backwards."""
        self._signing_key()  # read (or first stored) before the row lock: that takes a transaction of its own
        with file_lock(self.checkpoint_path):
            if not self._shared:
                cp = self._next_checkpoint(None if reanchor else self.read_checkpoint(), seq, digest)
            else:
                with write_tx(self.engine) as conn:
                    row = lock_shared_checkpoint(conn)
                    cp = self._next_checkpoint(None if reanchor else self._newest(row), seq, digest)
                    if row != cp:
                        write_shared_checkpoint(conn, cp)
            local = read_file_checkpoint(self.checkpoint_path) if not reanchor else None
            if reanchor or local is None or local.public_key != cp.public_key or local.seq < cp.seq:
                write_file_checkpoint(self.checkpoint_path, cp)
            return cp

    def _next_checkpoint(self, old: Checkpoint | None, seq: int, digest: str) -> Checkpoint:
        """``old`` if it is already at or past ``seq``, else a new one signed; ``old`` must be
        valid and still in the chain (else :class:`AuditTamperedError`)."""
        if old is not None:
            problem = self.checkpoint_problem(old)
            if problem:
                raise AuditTamperedError(problem)
            # Also when an appender that finished late finds a newer checkpoint: the
            # entry it names must still be there, or the chain was cut behind it.
            with read_tx(self.engine) as conn:
                anchored = conn.execute(sa.select(audit_entries.c.hash)
                                        .where(audit_entries.c.seq == old.seq)).scalar()
            if anchored != old.hash:
                raise AuditTamperedError(
                    f"audit entry {old.seq} named by the checkpoint is missing or changed, so no new head is "
                    f"signed; {BEHIND_HINT}")
            if old.seq >= seq:
                return old
        at = _format_at(self._now())
        unsigned = Checkpoint(seq, digest, at, self.public_key, "")
        import base64

        signature = base64.urlsafe_b64encode(self._signing_key().sign(unsigned.signed_bytes())).rstrip(b"=").decode()
        return Checkpoint(seq, digest, at, self.public_key, signature)

    # -- reading and verifying ----------------------------------------------------------------
    def entries(self, *, since: str | None = None, until: str | None = None, actions: Sequence[str] = (),
                project_id: str | None = None) -> list[AuditEntry]:
        """Entries in order; ``since``/``until`` compare with ``at`` (ISO text, UTC)."""
        query = sa.select(audit_entries).order_by(audit_entries.c.seq)
        if since is not None:
            query = query.where(audit_entries.c.at >= since)
        if until is not None:
            query = query.where(audit_entries.c.at < until)
        if actions:
            query = query.where(audit_entries.c.action.in_(list(actions)))
        if project_id is not None:
            query = query.where(audit_entries.c.project_id == project_id)
        with read_tx(self.engine) as conn:
            return [AuditEntry(r.seq, r.at, r.actor, r.action, r.project_id, r.subject, r.detail, r.prev_hash,
                               r.hash) for r in conn.execute(query)]

    def verify(self, *, public_key: str | None = None, batch: int = 5000,
               against_checkpoint: bool = True) -> VerifyResult:
        """Recompute the chain and check it against the signed checkpoint.

        Reports the first changed, missing, inserted or reordered entry; a tail cut off
        behind the checkpoint; a chain replaced wholesale; a forged or missing checkpoint.
        ``public_key`` pins the expected audit key (default: this server's key);
        ``against_checkpoint=False`` checks the chain alone.
        """
        prev, expected, count = GENESIS, 1, 0
        hashes_at: dict[int, str] = {}
        cp = self.read_checkpoint() if against_checkpoint else None
        first_bad: int | None = None
        problem: str | None = None
        with read_tx(self.engine) as conn:
            last = 0
            while problem is None:
                rows = conn.execute(sa.select(audit_entries).where(audit_entries.c.seq > last)
                                    .order_by(audit_entries.c.seq).limit(batch)).all()
                if not rows:
                    break
                for row in rows:
                    last = row.seq
                    if row.seq != expected:
                        first_bad = expected
                        problem = (f"entry {expected} is missing (found {row.seq} next)" if row.seq > expected
                                   else f"entry {row.seq} appears out of order")
                        break
                    if _row_hash(row) != row.hash:
                        first_bad, problem = row.seq, f"entry {row.seq} was changed (its hash does not match)"
                        break
                    if row.prev_hash != prev:
                        first_bad, problem = row.seq, f"entry {row.seq} does not link to entry {row.seq - 1}"
                        break
                    if cp is not None and row.seq == cp.seq:
                        hashes_at[row.seq] = row.hash
                    prev, expected, count = row.hash, expected + 1, count + 1
        head_seq = expected - 1
        if problem is None and against_checkpoint:
            if cp is None:
                if head_seq > 0:
                    problem = f"no checkpoint at {self.checkpoint_path} (it was removed, or never written)"
            else:
                problem = self.checkpoint_problem(cp, public_key=public_key)
                if problem is None and cp.seq > head_seq:
                    first_bad = head_seq + 1
                    problem = (f"the trail ends at entry {head_seq} but the signed checkpoint names entry {cp.seq} "
                               f"(truncated): {BEHIND_HINT}")
                elif problem is None and hashes_at.get(cp.seq) != cp.hash:
                    first_bad = cp.seq
                    problem = (f"entry {cp.seq} differs from the signed checkpoint (the chain was replaced, or "
                               f"entries were added after a restore from an older copy): {BEHIND_HINT}")
        return VerifyResult(ok=problem is None, count=count, head_seq=head_seq, head_hash=prev,
                            checkpoint_seq=cp.seq if cp else None, first_bad=first_bad, problem=problem)
