"""Where the audit trail's signing key and signed checkpoint live.

The checkpoint, a signed ``(seq, hash)`` of the trail's head, is kept twice: in the
``audit_checkpoint`` row, which every host over one database reads and advances under its
row lock, and in this host's ``audit/head.json``, a copy outside the database that only moves
forward (a database rolled back behind it is still caught). The signing key is shared through
the database, wrapped by the KEK (``keys/shared_secrets.py``); this host's
``keys/audit_ed25519.key`` seeds it the first time, and is the key alone for a schema older
than 0018.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import AuditTamperedError
from crashveil.server.db.engine import dialect_insert, is_sqlite
from crashveil.server.db.governance_tables import audit_checkpoint
from crashveil.server.keys.crypto import SigningKey
from crashveil.server.keys.kek import KeyEncryptionKeyProvider
from crashveil.wire.canonical import canonical_json

__all__ = ["Checkpoint", "checkpoint_of_row", "file_lock", "has_checkpoint_table", "load_or_create_audit_key",
           "lock_shared_checkpoint", "provider_of", "read_file_checkpoint", "read_shared_checkpoint",
           "write_file_checkpoint", "write_shared_checkpoint"]

_HEAD_LABEL = b"crashveil/audit-head/v1\x00"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: entry ``seq`` of the trail has hash ``hash``."""

    seq: int
    hash: str
    at: str
    public_key: str
    signature: str

    def signed_bytes(self) -> bytes:
        return _HEAD_LABEL + canonical_json([self.seq, self.hash, self.at])


def load_or_create_audit_key(path: Path) -> SigningKey:
    """The audit signing key at ``path`` (32 raw bytes, mode 0600), created if missing."""
    path = Path(path)
    if path.exists():
        return SigningKey.from_private_bytes(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes())
        handle.flush()
        os.fsync(handle.fileno())
    return key


def provider_of(server_dir: Path) -> KeyEncryptionKeyProvider | None:
    """The KEK provider of the directory's settings; ``None`` (the file key alone) where there
    is no KEK yet (a bare directory of a test or a staging step, a settings file without a
    KEK file)."""
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.keys.kek_sources import kek_file_path, provider_from_settings
    from crashveil.server.settings import SETTINGS_FILE, Settings

    if (server_dir / SETTINGS_FILE).is_file():
        settings = Settings.load(server_dir)
        if settings.kek_provider != "file" or kek_file_path(settings).is_file():
            return provider_from_settings(settings)
        return None
    kek_file = server_dir / "keys" / "kek.json"
    return FileKeyProvider(kek_file) if kek_file.is_file() else None


# --- the shared row --------------------------------------------------------------------------

def has_checkpoint_table(engine: Engine) -> bool:
    """Whether the schema has ``audit_checkpoint`` (migration 0018)."""
    return sa.inspect(engine).has_table(audit_checkpoint.name)


def checkpoint_of_row(row: Any) -> Checkpoint:
    return Checkpoint(int(row.seq), row.hash, row.at, row.public_key, row.signature)


def read_shared_checkpoint(conn: Connection) -> Checkpoint | None:
    row = conn.execute(sa.select(audit_checkpoint).where(audit_checkpoint.c.id == 1)).first()
    return checkpoint_of_row(row) if row is not None else None


def lock_shared_checkpoint(conn: Connection) -> Checkpoint | None:
    """The shared checkpoint, its row locked until the transaction ends (PostgreSQL; SQLite's
    write transaction already excludes other writers)."""
    query = sa.select(audit_checkpoint).where(audit_checkpoint.c.id == 1)
    row = conn.execute(query if is_sqlite(conn) else query.with_for_update()).first()
    return checkpoint_of_row(row) if row is not None else None


def write_shared_checkpoint(conn: Connection, cp: Checkpoint) -> None:
    values = {"seq": cp.seq, "hash": cp.hash, "at": cp.at, "public_key": cp.public_key, "signature": cp.signature}
    conn.execute(dialect_insert(conn, audit_checkpoint).values(id=1, **values)
                 .on_conflict_do_update(index_elements=[audit_checkpoint.c.id], set_=values))


# --- this host's file ----------------------------------------------------------------------------

def read_file_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint in ``path``, or ``None`` if there is none; signature not yet checked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["public_key"]),
                          str(data["signature"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditTamperedError(f"{path}: not a readable audit checkpoint") from exc


def write_file_checkpoint(path: Path, cp: Checkpoint) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"seq": cp.seq, "hash": cp.hash, "at": cp.at, "public_key": cp.public_key,
                   "signature": cp.signature}, handle, sort_keys=True, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """This host's processes advance ``path`` one at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
