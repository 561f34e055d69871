"""The key ring: the key-encryption key (KEK), data keys per day, and project key rotation.

Three tiers (envelope encryption):

``KEK``
    Held by a ``kek.KeyEncryptionKeyProvider``; it only ever wraps and unwraps 32-byte keys,
    so a KMS can hold it without handing the key out. ``kek.FileKeyProvider`` keeps it in
    ``DIR/keys/kek.json`` (mode 0600), apart from the database: a stolen database or backup
    alone decrypts nothing. Several hosts over one PostgreSQL need the same KEK set (a file
    the operator distributes, an environment variable or a command: ``kek_sources``); a key
    this host cannot unwrap is a server fault (:class:`KeyUnavailableError`, 503, noted in
    :attr:`KeyRing.faults` for ``/readyz``), never the sender's.
``data keys``
    One per project and received day (``data_keys``), wrapped by the KEK and bound to their
    key id ``dek:<project>:<day>``, so a wrapped key cannot be moved to another row.
    Destroying one deletes that day's report details (crypto-shredding).
``project keys``
    The HPKE key pairs that open sealed reports and the Ed25519 key that signs remote
    config, in ``project_keys``: each private key encrypted under its own data key, wrapped
    by the KEK. Kept in the database (not files) so every server process and host over one
    PostgreSQL opens and signs with the same keys, and a rotation made by the CLI reaches
    them all through the database.

Rotation
    :meth:`KeyRing.rotate_kek` adds a KEK, rewraps every data key and project key in
    committed batches (no report is rewritten: 61 bytes per key), then retires the old KEK;
    it is destroyed ``kek_retired_keep_days`` later. Interrupted at any point (or stopped
    between batches), every row is wrapped by a KEK still in the file, the old KEK is not
    retired, and running it again resumes under the same new KEK and finishes the job.
    :meth:`KeyRing.rotate_project_keys` adds a new HPKE and signing key; the old ones keep
    working until ``expires_at`` (the overlap: queued reports sealed to the old key still
    open, and the remote config is signed by every signing key of the overlap, so apps
    pinning the old one keep verifying it), then :meth:`KeyRing.destroy_expired` erases
    their private parts.
"""

from __future__ import annotations

import collections
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.errors import ConfigError, KekRolloutError, KeyUnavailableError, StorageError
from crashveil.server.db.engine import dialect_insert, fetch_all, read_tx, write_tx
from crashveil.server.db.sentry_tables import sentry_pseudonym_keys
from crashveil.server.db.tables import data_keys, project_keys, shared_secrets
from crashveil.server.keys.crypto import (
    ProjectKeyPair,
    SigningKey,
    decrypt_detail,
    detail_aad,
    encrypt_detail,
    new_data_key,
)
from crashveil.server.keys.faults import KeyFaults
from crashveil.server.keys.kek import KeyEncryptionKeyProvider

__all__ = [
    "KeyRing",
    "ProjectKeys",
    "KeyInfo",
    "KekRotation",
    "RewrapProgress",
    "WrappedKeys",
    "keks_missing_here",
    "register_wrapped_keys",
    "wrapped_tables",
]

HPKE = "hpke"
SIGNING = "signing"
_PRIVATE_KEY_AAD_DAY = "project-key"


# --- tables of KEK-wrapped keys -------------------------------------------------------------


@dataclass(frozen=True)
class WrappedKeys:
    """A table whose rows hold a key wrapped by the KEK (rewrapped by a KEK rotation)."""

    table: sa.Table
    key_id: Callable[[sa.Row[Any]], str]  # the key id (wrap AAD) of a row
    wrapped_column: str = "wrapped_dek"
    kek_column: str = "kek_id"


_DATA_KEYS = WrappedKeys(data_keys, lambda row: row.key_id)
_WRAPPED_TABLES: list[WrappedKeys] = [WrappedKeys(project_keys, lambda row: f"pk:{row.key_id}"),
                                      # the audit signing key and dashboard secret (keys/shared_secrets.py)
                                      WrappedKeys(shared_secrets, lambda row: f"secret:{row.name}",
                                                  wrapped_column="wrapped_key"),
                                      # Sentry pseudonym keys: an operator's KEK set may drop the old
                                      # KEK once a rotation is done, so none may stay under it.
                                      WrappedKeys(sentry_pseudonym_keys,
                                                  lambda row: f"sentry-pseudonym:{row.project_id}:"
                                                              f"{row.rotation_days}:{row.period}",
                                                  wrapped_column="wrapped_key")]


def register_wrapped_keys(table: sa.Table, key_id: Callable[[sa.Row[Any]], str], *, wrapped_column: str = "wrapped_key",
                          kek_column: str = "kek_id") -> None:
    """Have KEK rotations rewrap ``table`` too (other modules' wrapped keys, e.g. pseudonym keys).

    ``key_id(row)`` must give the ``key_id`` the key was wrapped with.
    """
    if all(spec.table is not table for spec in _WRAPPED_TABLES):
        _WRAPPED_TABLES.append(WrappedKeys(table, key_id, wrapped_column, kek_column))


def wrapped_tables() -> list[WrappedKeys]:
    """Every table of KEK-wrapped keys: the data keys first, then the rest."""
    return [_DATA_KEYS, *_WRAPPED_TABLES]


def keks_missing_here(conn: Connection, known: set[str]) -> dict[str, str]:
    """KEK ids that wrap a key in the database but are not in ``known``, each with one key id
    it wraps (for ``/readyz``: ids only, never a key)."""
    missing: dict[str, str] = {}
    for spec in wrapped_tables():
        kek_col, wrapped_col = spec.table.c[spec.kek_column], spec.table.c[spec.wrapped_column]
        used = conn.execute(sa.select(kek_col).where(wrapped_col.is_not(None), kek_col.is_not(None))
                            .distinct()).scalars()
        for kek_id in used:
            if kek_id not in known and kek_id not in missing:
                row = conn.execute(sa.select(spec.table).where(kek_col == kek_id).limit(1)).first()
                missing[kek_id] = spec.key_id(row) if row is not None else "?"
    return missing


# --- the key ring over the database ---------------------------------------------------------


@dataclass(frozen=True)
class ProjectKeys:
    """A project's usable keys, newest first."""

    keypairs: list[ProjectKeyPair]
    signing_keys: list[SigningKey]


@dataclass(frozen=True)
class KeyInfo:
    """One project key as ``crashveil keys list`` shows it (no secret)."""

    key_id: str
    project_id: str
    kind: str
    algorithm: str
    public_key: str
    kek_id: str | None
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None
    destroyed_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.destroyed_at is not None:
            return "destroyed"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.retired_at is not None:
            return "overlap"
        return "current"


@dataclass(frozen=True)
class KekRotation:
    """What a KEK rotation did."""

    new_kek_id: str
    retired: list[str]
    rewrapped_data_keys: int
    rewrapped_project_keys: int  # project keys and tables registered with register_wrapped_keys
    destroyed_keks: list[str]
    interrupted: bool = False  # stopped between batches; the old KEKs stay until a rerun finishes
    resumed: bool = False  # finished a rotation an earlier run had started (no new KEK made)


RewrapProgress = Callable[[str, int, int], None]
"""Told (what, keys done, keys in all) before the first batch of a table and after each batch."""


_DATA_KEY_FOR_WRITE = sa.select(data_keys.c.kek_id, data_keys.c.wrapped_dek, data_keys.c.destroyed_at).where(
    data_keys.c.key_id == sa.bindparam("key_id"))


class KeyRing:
    """Data keys and project keys over the database, with the KEK from ``provider``.

    Methods taking ``conn`` run inside the caller's transaction.
    """

    def __init__(self, provider: KeyEncryptionKeyProvider, *, cache_size: int = 256) -> None:
        self.provider = provider
        # Unwrapped data keys by (key_id, wrapped bytes): a rewrap changes the wrapped bytes
        # and a destroyed key has none, so a hit is always what the database says now.
        self._cache: collections.OrderedDict[tuple[str, bytes], bytes] = collections.OrderedDict()
        self._cache_size = cache_size
        self.faults = KeyFaults()

    def wrap(self, key: bytes, *, key_id: str) -> tuple[str, bytes]:
        """``provider.wrap``; a KEK source that fails is :class:`KeyUnavailableError` (503)."""
        try:
            return self.provider.wrap(key, key_id=key_id)
        except ConfigError as exc:
            raise KeyUnavailableError(key_id, None, f"could not be wrapped: {exc}") from exc

    def _unwrap_plain(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes:
        try:
            return self.provider.unwrap(kek_id, wrapped, key_id=key_id)
        except ConfigError as exc:  # the KEK source failed (file unreadable, command failing)
            raise KeyUnavailableError(key_id, kek_id, f"could not be unwrapped: {exc}") from exc

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes:
        """``provider.unwrap``, with a failure to find or unwrap the key noted in :attr:`faults`
        (logged, shown by ``/readyz``) before it propagates (503)."""
        try:
            key = self._unwrap_plain(kek_id, wrapped, key_id=key_id)
        except KeyUnavailableError as exc:
            self.faults.failed(exc, lambda: self._unwrap_plain(kek_id, wrapped, key_id=key_id))
            raise
        self.faults.succeeded(key_id)
        return key

    # -- data keys --------------------------------------------------------------------------
    @staticmethod
    def data_key_id(project_id: str, day: str) -> str:
        return f"dek:{project_id}:{day}"

    def _unwrap(self, key_id: str, kek_id: str, wrapped: bytes) -> bytes:
        cache_key = (key_id, wrapped)
        dek = self._cache.get(cache_key)
        if dek is None:
            dek = self.unwrap(kek_id, wrapped, key_id=key_id)
            self._cache[cache_key] = dek
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(cache_key)
        return dek

    def data_key_for_write(self, conn: Connection, project_id: str, day: str, *, now: datetime) -> tuple[str, bytes]:
        """The data key of ``project_id`` for ``day``, created on first use: (key_id, key)."""
        key_id = self.data_key_id(project_id, day)
        # Once per group-commit batch: the prebuilt statement on the DBAPI cursor (SQLite)
        # saves building and running a select through SQLAlchemy (~0.15 ms a batch).
        # ``destroyed_at`` is only compared with None, so its raw value will do.
        found = fetch_all(conn, _DATA_KEY_FOR_WRITE, {"key_id": key_id})
        row: Any = found[0] if found else None
        if row is None:
            dek = new_data_key()
            kek_id, wrapped = self.wrap(dek, key_id=key_id)
            conn.execute(dialect_insert(conn, data_keys).values(
                key_id=key_id, project_id=project_id, day=day, kek_id=kek_id, wrapped_dek=wrapped,
                created_at=now).on_conflict_do_nothing())
            row = conn.execute(sa.select(data_keys.c.kek_id, data_keys.c.wrapped_dek, data_keys.c.destroyed_at)
                               .where(data_keys.c.key_id == key_id)).one()
        kek_id, wrapped, destroyed_at = row
        if destroyed_at is not None or wrapped is None:
            raise StorageError(f"the data key of {project_id} for {day} was destroyed (retention)")
        return key_id, self._unwrap(key_id, kek_id, wrapped)

    def data_key_for_read(self, conn: Connection, key_id: str) -> bytes | None:
        """The data key ``key_id``, or ``None`` if it was destroyed."""
        row = conn.execute(sa.select(data_keys.c.kek_id, data_keys.c.wrapped_dek)
                           .where(data_keys.c.key_id == key_id)).first()
        if row is None or row.wrapped_dek is None:
            return None
        return self._unwrap(key_id, row.kek_id, row.wrapped_dek)

    # -- project keys -----------------------------------------------------------------------
    def add_project_key(self, conn: Connection, project_id: str, kind: str, *, now: datetime,
                        suite: str = "mlkem768x25519") -> str:
        """Create a new HPKE (``kind="hpke"``) or signing key for the project; returns its id."""
        if kind == HPKE:
            pair = ProjectKeyPair.generate(suite)
            algorithm, public, private = pair.suite, pair.public_key_string(), pair.private_bytes()
        elif kind == SIGNING:
            signer = SigningKey.generate()
            algorithm, public, private = "ed25519", signer.public_key_string(), signer.private_bytes()
        else:
            raise ValueError(f"unknown key kind {kind!r}")
        key_id = f"{kind}-{now:%Y%m%d}-{secrets.token_hex(4)}"
        dek = new_data_key()
        kek_id, wrapped = self.wrap(dek, key_id=f"pk:{key_id}")
        sealed = encrypt_detail(dek, private, aad=detail_aad(project_id, key_id, _PRIVATE_KEY_AAD_DAY))
        conn.execute(project_keys.insert().values(
            key_id=key_id, project_id=project_id, kind=kind, algorithm=algorithm, public_key=public,
            kek_id=kek_id, wrapped_dek=wrapped, sealed_private=sealed, created_at=now))
        return key_id

    def rotate_project_keys(self, conn: Connection, project_id: str, *, now: datetime, overlap: timedelta,
                            kinds: Sequence[str] = (HPKE, SIGNING), suite: str | None = None) -> list[str]:
        """New keys of ``kinds`` for the project; the current ones expire after ``overlap``."""
        created = []
        for kind in kinds:
            current = conn.execute(
                sa.select(project_keys.c.key_id, project_keys.c.algorithm).where(
                    project_keys.c.project_id == project_id, project_keys.c.kind == kind,
                    project_keys.c.retired_at.is_(None), project_keys.c.destroyed_at.is_(None))
                .with_for_update()).all()
            new_suite = suite or next((r.algorithm for r in current if kind == HPKE), None) or "mlkem768x25519"
            created.append(self.add_project_key(conn, project_id, kind, now=now, suite=new_suite))
            if current:
                conn.execute(project_keys.update()
                             .where(project_keys.c.key_id.in_([r.key_id for r in current]))
                             .values(retired_at=now, expires_at=now + overlap))
        return created

    def project_keys(self, conn: Connection, project_id: str, *, now: datetime) -> ProjectKeys:
        """The project's usable keys (not expired, not destroyed), newest first."""
        rows = conn.execute(
            sa.select(project_keys).where(
                project_keys.c.project_id == project_id, project_keys.c.destroyed_at.is_(None),
                sa.or_(project_keys.c.expires_at.is_(None), project_keys.c.expires_at > now))
            # Current keys first (a rotation within one clock tick must still put the new key first).
            .order_by(sa.case((project_keys.c.retired_at.is_(None), 0), else_=1),
                      project_keys.c.created_at.desc(), project_keys.c.key_id.desc())).all()
        pairs: list[ProjectKeyPair] = []
        signers: list[SigningKey] = []
        for row in rows:
            private = self._private_bytes(row)
            if row.kind == HPKE:
                pairs.append(ProjectKeyPair.from_private_bytes(private))
            elif row.kind == SIGNING:
                signers.append(SigningKey.from_private_bytes(private))
        return ProjectKeys(pairs, signers)

    def _private_bytes(self, row: sa.Row[Any]) -> bytes:
        dek = self.unwrap(row.kek_id, row.wrapped_dek, key_id=f"pk:{row.key_id}")
        return decrypt_detail(dek, row.sealed_private, aad=detail_aad(row.project_id, row.key_id, _PRIVATE_KEY_AAD_DAY))

    @staticmethod
    def expired_key_ids(conn: Connection, *, now: datetime) -> list[str]:
        """Project keys whose overlap has ended and whose private parts are still there."""
        return list(conn.execute(sa.select(project_keys.c.key_id).where(
            project_keys.c.expires_at <= now, project_keys.c.destroyed_at.is_(None))).scalars())

    def destroy_expired(self, conn: Connection, *, now: datetime) -> list[str]:
        """Erase the private parts of project keys whose overlap has ended; returns their ids."""
        ids = self.expired_key_ids(conn, now=now)
        if ids:
            conn.execute(project_keys.update().where(project_keys.c.key_id.in_(ids)).values(
                wrapped_dek=None, sealed_private=None, kek_id=None, destroyed_at=now))
        return ids

    def list_keys(self, conn: Connection, project_id: str | None = None) -> list[KeyInfo]:
        query = sa.select(project_keys).order_by(project_keys.c.project_id, project_keys.c.kind,
                                                 sa.case((project_keys.c.retired_at.is_(None), 0), else_=1),
                                                 project_keys.c.created_at.desc())
        if project_id is not None:
            query = query.where(project_keys.c.project_id == project_id)
        return [KeyInfo(r.key_id, r.project_id, r.kind, r.algorithm, r.public_key, r.kek_id, r.created_at,
                        r.retired_at, r.expires_at, r.destroyed_at) for r in conn.execute(query)]

    # -- KEK rotation ------------------------------------------------------------------------
    def unfinished_rotation(self) -> list[str]:
        """Old KEKs neither current nor retired: an earlier rotation stopped before retiring them."""
        return [info.kek_id for info in self.provider.keys() if not info.current and info.retired_at is None]

    def _rewrap_table(self, engine: sa.Engine, spec: WrappedKeys, *, batch_size: int, stop: Callable[[], bool],
                      on_batch: RewrapProgress) -> tuple[int, bool]:
        """Rewrap ``spec``'s keys not under the current KEK, ``batch_size`` rows per committed
        transaction, until none is left; returns (keys rewrapped, stopped early)."""
        table = spec.table
        wrapped_col, kek_col = table.c[spec.wrapped_column], table.c[spec.kek_column]
        pk = list(table.primary_key.columns)
        current = self.provider.current_id()
        pending = sa.select(table).where(wrapped_col.is_not(None), kek_col != current)
        with read_tx(engine) as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(pending.subquery())).scalar_one()
        label, done = table.name.replace("_", " "), 0
        on_batch(label, 0, total)
        while True:
            with write_tx(engine) as conn:
                # Rows rewrapped by an earlier batch no longer match, so each batch takes the next.
                rows = conn.execute(pending.order_by(*pk).limit(batch_size).with_for_update()).all()
                for row in rows:
                    key_id = spec.key_id(row)
                    key = self.unwrap(getattr(row, spec.kek_column),
                                               bytes(getattr(row, spec.wrapped_column)), key_id=key_id)
                    kek_id, wrapped = self.provider.wrap(key, key_id=key_id)
                    conn.execute(table.update().where(*(col == getattr(row, col.name) for col in pk))
                                 .values({spec.kek_column: kek_id, spec.wrapped_column: wrapped}))
            if not rows:  # none left, including keys a process that had not seen the new KEK wrote
                return done, False
            done += len(rows)
            on_batch(label, done, max(total, done))
            if stop():
                return done, True

    def rotate_kek(self, engine: sa.Engine, *, now: datetime, retired_keep: timedelta, batch_size: int = 500,
                   stop: Callable[[], bool] = lambda: False,
                   on_batch: RewrapProgress = lambda what, done, total: None, resume: bool = True,
                   lagging_hosts: Callable[[str], list[str]] = lambda kek_id: []) -> KekRotation:
        """New KEK, rewrap everything under it, retire the others, purge long-retired ones.

        Rewraps in batches of ``batch_size`` keys, each committed; ``stop`` is asked after
        each batch. Stopped, nothing is retired (every row stays readable under a KEK in the
        file) and the result says ``interrupted``; the next call resumes under the same new
        KEK instead of making another, unless ``resume`` is false (retention after shredding
        needs a KEK no earlier backup holds).

        Several hosts: before any key is rewrapped under the new KEK, ``lagging_hosts(new_id)``
        names the live hosts that do not hold it yet (``keys.hosts``); if any, nothing is
        rewrapped or retired and :class:`KekRolloutError` names them (a file provider has
        already made the new KEK current here: distribute that file, then run it again).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        old = self.unfinished_rotation() if resume else []
        resumed = bool(old)
        if resumed:
            new_id = self.provider.current_id()
        else:
            old = [info.kek_id for info in self.provider.keys() if info.retired_at is None]
            new_id = self.provider.rotate(now=now)
        old = [kek_id for kek_id in old if kek_id != new_id]  # an operator's set: rotate() names its current
        lagging = lagging_hosts(new_id)
        if lagging:
            raise KekRolloutError(new_id, lagging)
        counts = []
        for spec in (_DATA_KEYS, *_WRAPPED_TABLES):
            done, stopped = self._rewrap_table(engine, spec, batch_size=batch_size, stop=stop, on_batch=on_batch)
            counts.append(done)
            if stopped:
                self._cache.clear()
                counts += [0] * (1 + len(_WRAPPED_TABLES) - len(counts))
                return KekRotation(new_id, [], counts[0], sum(counts[1:]), [], interrupted=True, resumed=resumed)
        for kek_id in old:
            self.provider.retire(kek_id, now=now)
        destroyed = self.provider.purge(retired_before=now - retired_keep)
        self._cache.clear()
        return KekRotation(new_id, old, counts[0], sum(counts[1:]), destroyed, resumed=resumed)


def utcnow() -> datetime:
    return datetime.now(UTC)
