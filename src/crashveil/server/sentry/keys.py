"""DSN keys of the Sentry-compatible ingest and server-side pseudonym keys.

A Sentry DSN is ``https://<public_key>@host:port/<numeric project id>``. The key ships
inside every app, so it is a bearer credential: only its SHA-256 is stored, beside its
first eight characters as a lookup prefix. A request's key is checked by looking up the
candidates of that prefix and comparing digests with :func:`hmac.compare_digest`
(RELIABILITY.md 2, "timing attacks": look up by id, compare the secret in constant time).
Keys are revocable; a running server notices within ``settings.project_cache_s``.

Each key has its own consent level: the events sent with it are treated at that level
(``NULL``: the policy's lowest level above ``off``). An app team can hold a ``crash`` key and
a ``diagnostic`` key side by side; creating one never changes another. Creating a key,
changing its level and revoking it are written to the audit trail (``sentry_key.create``,
``sentry_key.level``, ``sentry_key.revoke``) when a trail is given, as the CLI does.

Sentry SDK parsers insist on a numeric project id (sentry-python's ``Dsn`` does
``int(path.pop())``), so each crashveil project gets one in ``sentry_projects`` when its
first key is created.

Pseudonyms: when the policy allows ``install_id`` at the level Sentry events are treated at,
a Sentry ``user.id`` becomes ``HMAC-SHA256(period key, "crashveil/sentry-user/v1\\0" + id)``
cut to 32 hex digits. The period key is random, per project and per
``policy.keys.pseudonym_rotation_days`` period, wrapped by the key-encryption key; keys of
past periods are deleted, so old pseudonyms cannot be recomputed from user ids.

The commands (``crashveil project sentry-key create|list|set-level|revoke``) are in
``crashveil.server.cli.sentry_keys``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from crashveil.errors import ConfigError, SealError, StorageError
from crashveil.server.db import engine as db
from crashveil.server.db.sentry_tables import (
    sentry_keys,
    sentry_projects,
    sentry_pseudonym_keys,
)
from crashveil.server.db.tables import projects

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.server.governance.audit import AuditTrail

__all__ = [
    "PseudonymKeys",
    "SentryKeyInfo",
    "SentryKeys",
    "SentryProject",
    "default_level",
    "format_dsn",
]

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")
_PREFIX_RE = re.compile(r"^[0-9a-f]{8}$")
_PSEUDONYM_DOMAIN = b"crashveil/sentry-user/v1\x00"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


@dataclass(frozen=True)
class SentryProject:
    """The crashveil project a valid DSN key belongs to, that key's level (``None``: the
    policy's default) and the key's row id (``None`` without a key: outcomes are counted by it)."""

    numeric_id: int
    project_id: str
    level: str | None
    key_id: int | None = None


@dataclass(frozen=True)
class SentryKeyInfo:
    """One key as ``list`` shows it: never the key itself, only its prefix."""

    key_id: int
    prefix: str
    numeric_id: int
    project_id: str
    label: str
    level: str | None
    created_at: datetime
    revoked_at: datetime | None


def format_dsn(key: str, numeric_id: int, *, host: str, port: int | None, scheme: str = "https") -> str:
    """``https://<key>@host:port/<numeric_id>`` (IPv6 hosts in brackets; no port: the scheme's)."""
    if scheme not in ("http", "https"):
        raise ConfigError("scheme", f"{scheme!r} is not supported", "http or https")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{key}@{shown}" + (f":{port}" if port is not None else "") + f"/{numeric_id}"


def default_level(policy: Policy) -> str:
    """The policy's lowest consent level above ``off``: what Sentry events get by default."""
    ranked = sorted((level for level in policy.levels if level.rank > 0), key=lambda level: level.rank)
    if not ranked:
        raise ConfigError("levels", "the policy has no level above off", "at least one consent level with rank > 0")
    return ranked[0].name


class SentryKeys:
    """Create, list, re-level, revoke and check DSN keys over the database.

    ``authenticate`` is called on every request: it reads a per-project snapshot of the
    keys that is at most ``cache_s`` seconds old (0 in tests: always fresh). With ``audit``,
    every change is recorded in the audit trail within its own transaction.
    """

    def __init__(self, engine: sa.Engine, *, cache_s: float = 30.0, now: Callable[[], datetime] = _utcnow,
                 clock: Callable[[], float] = time.monotonic, audit: AuditTrail | None = None) -> None:
        self.engine = engine
        self._cache_s = cache_s
        self._now = now
        self._clock = clock
        self._audit = audit
        self._cache: dict[int, tuple[float, SentryProject | None, list[tuple[bytes, str | None, int]]]] = {}
        self._lock = threading.Lock()

    # -- administration ---------------------------------------------------------------------
    def create_key(self, project_id: str, *, label: str = "default", level: str | None = None,
                   actor: str = "cli") -> tuple[SentryProject, str]:
        """A new key for ``project_id`` (its numeric id is made on first use): (project, key).

        ``level``, when given, is the consent level events sent with this key are treated at
        (checking it against the policy is the caller's job); other keys keep theirs.
        """
        if not label or len(label) > 64 or not label.isprintable():
            raise ConfigError("label", "must be 1 to 64 printable characters")
        key = secrets.token_hex(16)
        now = self._now()
        try:
            with db.write_tx(self.engine) as conn:
                if conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                    raise ConfigError("project", f"{project_id!r} does not exist",
                                      "a project from 'crashveil project list'")
                numeric = conn.execute(sa.select(sentry_projects.c.numeric_id)
                                       .where(sentry_projects.c.project_id == project_id)).scalar()
                if numeric is None:
                    numeric = conn.execute(sentry_projects.insert().values(project_id=project_id, created_at=now)
                                           ).inserted_primary_key[0]  # type: ignore[index]  # SQLAlchemy types it Optional; an insert always has one
                key_id = conn.execute(sentry_keys.insert().values(
                    numeric_id=numeric, prefix=key[:8], key_sha256=_digest(key), label=label, level=level,
                    created_at=now)).inserted_primary_key[0]  # type: ignore[index]  # as above
                if self._audit is not None:
                    self._audit.record("sentry_key.create", actor=actor, project_id=project_id,
                                       subject=f"sentry_key:{key[:8]}",
                                       detail={"label": label, "level": level or "default"}, conn=conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create a Sentry key ({type(exc).__name__})") from exc
        self._changed(numeric)
        return SentryProject(numeric, project_id, level, key_id), key

    def list_keys(self, project_id: str) -> list[SentryKeyInfo]:
        """Every key of ``project_id``, revoked ones included, oldest first."""
        with db.read_tx(self.engine) as conn:
            rows = conn.execute(
                sa.select(sentry_keys, sentry_projects.c.project_id)
                .join(sentry_projects, sentry_projects.c.numeric_id == sentry_keys.c.numeric_id)
                .where(sentry_projects.c.project_id == project_id).order_by(sentry_keys.c.id)).all()
        return [SentryKeyInfo(r.id, r.prefix, r.numeric_id, r.project_id, r.label, r.level, r.created_at, r.revoked_at)
                for r in rows]

    def set_level(self, project_id: str, prefix: str, level: str | None, *, actor: str = "cli"
                  ) -> tuple[int, int]:
        """Treat events of the live keys of ``project_id`` starting with ``prefix`` at ``level``
        (``None``: the policy's default): (live keys found, keys changed). Audited per change;
        checking ``level`` against the policy is the caller's job."""
        if not _PREFIX_RE.match(prefix):
            raise ConfigError("prefix", "is not a key prefix", "the 8 hex digits 'sentry-key list' shows")
        try:
            with db.write_tx(self.engine) as conn:
                rows = conn.execute(
                    sa.select(sentry_keys.c.id, sentry_keys.c.numeric_id, sentry_keys.c.level)
                    .join(sentry_projects, sentry_projects.c.numeric_id == sentry_keys.c.numeric_id)
                    .where(sentry_projects.c.project_id == project_id, sentry_keys.c.prefix == prefix,
                           sentry_keys.c.revoked_at.is_(None))).all()
                changed = [row for row in rows if row.level != level]
                for row in changed:
                    conn.execute(sentry_keys.update().where(sentry_keys.c.id == row.id).values(level=level))
                    if self._audit is not None:
                        self._audit.record("sentry_key.level", actor=actor, project_id=project_id,
                                           subject=f"sentry_key:{prefix}",
                                           detail={"from": row.level or "default", "to": level or "default"},
                                           conn=conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot change a Sentry key ({type(exc).__name__})") from exc
        for numeric in {row.numeric_id for row in rows}:
            self._changed(numeric)
        return len(rows), len(changed)

    def revoke(self, project_id: str, prefix: str, *, actor: str = "cli") -> int:
        """Revoke the keys of ``project_id`` starting with ``prefix`` (8 hex); how many were revoked."""
        if not _PREFIX_RE.match(prefix):
            raise ConfigError("prefix", "is not a key prefix", "the 8 hex digits 'sentry-key list' shows")
        with db.write_tx(self.engine) as conn:
            numeric = conn.execute(sa.select(sentry_projects.c.numeric_id)
                                   .where(sentry_projects.c.project_id == project_id)).scalar()
            if numeric is None:
                return 0
            done = conn.execute(sentry_keys.update().where(
                sentry_keys.c.numeric_id == numeric, sentry_keys.c.prefix == prefix,
                sentry_keys.c.revoked_at.is_(None)).values(revoked_at=self._now())).rowcount
            if done and self._audit is not None:
                self._audit.record("sentry_key.revoke", actor=actor, project_id=project_id,
                                   subject=f"sentry_key:{prefix}", detail={"keys": int(done)}, conn=conn)
        self._changed(numeric)
        return int(done)

    def _changed(self, numeric_id: int) -> None:
        """After a commit: drop the cached snapshot, and move the audit checkpoint forward."""
        self._cache.pop(numeric_id, None)
        if self._audit is not None:
            self._audit.checkpoint()

    def project_for(self, project_id: str) -> SentryProject | None:
        """The project's numeric id (no key, so no level); ``None`` before its first key."""
        with db.read_tx(self.engine) as conn:
            row = conn.execute(sa.select(sentry_projects).where(sentry_projects.c.project_id == project_id)).first()
        return None if row is None else SentryProject(row.numeric_id, row.project_id, None)

    # -- the request path ----------------------------------------------------------------------
    def authenticate(self, numeric_id: int, key: str) -> SentryProject | None:
        """The project, with the key's level, if ``key`` is a live key of ``numeric_id``; else ``None``.

        Every candidate of the project is compared, in constant time, whatever matched.
        """
        if not _KEY_RE.match(key):
            return None
        project, candidates = self._snapshot(numeric_id)
        presented = _digest(key)
        found = False
        level = None
        key_id = 0
        for stored, key_level, stored_id in candidates:
            match = hmac.compare_digest(stored, presented)
            found |= match
            level = key_level if match else level
            key_id = stored_id if match else key_id
        if project is None or not found:
            return None
        return SentryProject(project.numeric_id, project.project_id, level, key_id)

    def _snapshot(self, numeric_id: int) -> tuple[SentryProject | None, list[tuple[bytes, str | None, int]]]:
        now = self._clock()
        cached = self._cache.get(numeric_id)
        if cached is not None and self._cache_s > 0 and now - cached[0] < self._cache_s:
            return cached[1], cached[2]
        try:
            with db.read_tx(self.engine) as conn:
                row = conn.execute(sa.select(sentry_projects).where(sentry_projects.c.numeric_id == numeric_id)).first()
                keys = conn.execute(sa.select(sentry_keys.c.key_sha256, sentry_keys.c.level, sentry_keys.c.id).where(
                    sentry_keys.c.numeric_id == numeric_id, sentry_keys.c.revoked_at.is_(None))).all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read Sentry keys ({type(exc).__name__})") from exc
        project = None if row is None else SentryProject(row.numeric_id, row.project_id, None)
        candidates = [(bytes(k.key_sha256), k.level, int(k.id)) for k in keys]
        with self._lock:
            self._cache[numeric_id] = (now, project, candidates)
            if len(self._cache) > 10_000:
                self._cache.pop(next(iter(self._cache)))
        return project, candidates


class PseudonymKeys:
    """Per-project, per-period HMAC keys for Sentry user ids, wrapped by the KEK.

    Args:
        engine: the database.
        provider: the key-encryption key provider (``storage.keys.provider``).
    """

    def __init__(self, engine: sa.Engine, provider: Any) -> None:
        self.engine = engine
        self.provider = provider
        self._cache: dict[tuple[str, int, int], bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def period_of(moment: datetime, rotation_days: int) -> int:
        days = int(moment.astimezone(UTC).timestamp() // 86400)
        return days // max(1, rotation_days)

    def pseudonym(self, project_id: str, user_id: str, *, rotation_days: int, now: datetime) -> str:
        """The 32-hex pseudonym of ``user_id`` in ``project_id`` for the period of ``now``."""
        key = self.key_for(project_id, self.period_of(now, rotation_days), rotation_days, now=now)
        mac = hmac.new(key, _PSEUDONYM_DOMAIN + user_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def key_for(self, project_id: str, period: int, rotation_days: int, *, now: datetime) -> bytes:
        """The key of ``period`` (created on first use; older periods' keys deleted then)."""
        cache_key = (project_id, period, rotation_days)
        key = self._cache.get(cache_key)
        if key is not None:
            return key
        key_id = f"sentry-pseudonym:{project_id}:{rotation_days}:{period}"
        table = sentry_pseudonym_keys
        try:
            with db.write_tx(self.engine) as conn:
                where = (table.c.project_id == project_id, table.c.period == period,
                         table.c.rotation_days == rotation_days)
                row = conn.execute(sa.select(table.c.kek_id, table.c.wrapped_key).where(*where)).first()
                key = None
                if row is not None:
                    try:
                        key = self.provider.unwrap(row.kek_id, bytes(row.wrapped_key), key_id=key_id)
                    except SealError:  # its KEK was purged: the period starts over with a new key
                        conn.execute(table.delete().where(*where))
                        row = None
                    else:
                        if row.kek_id != self.provider.current_id():  # rewrap after a KEK rotation
                            kek_id, wrapped = self.provider.wrap(key, key_id=key_id)
                            conn.execute(table.update().where(*where).values(kek_id=kek_id, wrapped_key=wrapped))
                if row is None:
                    key = secrets.token_bytes(32)
                    kek_id, wrapped = self.provider.wrap(key, key_id=key_id)
                    conn.execute(table.insert().values(project_id=project_id, period=period,
                                                       rotation_days=rotation_days, kek_id=kek_id,
                                                       wrapped_key=wrapped, created_at=now))
                    # Forward unlinkability: no key of an earlier period survives a new one.
                    conn.execute(table.delete().where(table.c.project_id == project_id,
                                                      sa.or_(table.c.period < period,
                                                             table.c.rotation_days != rotation_days)))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the pseudonym key ({type(exc).__name__})") from exc
        assert key is not None
        with self._lock:
            for old in [k for k in self._cache if k[0] == project_id]:
                del self._cache[old]
            self._cache[cache_key] = key
        return key
