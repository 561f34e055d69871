"""Secrets every host over one database shares, kept in the database wrapped by the KEK.

The audit signing key (``audit-signing``) and the dashboard secret (``dashboard``) used to be
files of each server directory: each host signed its own checkpoint and a log-in form served
by one host failed its CSRF check on another. Now each is 32 bytes in ``shared_secrets``,
wrapped by the KEK under key id ``secret:<name>`` (rewrapped by KEK rotations like the data
keys): a stolen database alone does not reveal them, and every host holding the KEK set uses
the same ones. The first process to need one copies this host's file in (the value a single
host always had); later hosts use the database's.

:func:`shared_material` lists what a new host needs from an existing one (``server add-host``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from crashveil.server.db.engine import dialect_insert, read_tx, write_tx
from crashveil.server.db.tables import shared_secrets

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["AUDIT_SIGNING", "DASHBOARD", "KeyWrapper", "SharedMaterial", "shared_material", "shared_secret"]

AUDIT_SIGNING = "audit-signing"
DASHBOARD = "dashboard"


class KeyWrapper(Protocol):
    """What wraps and unwraps a 32-byte key: a KEK provider, or the key ring (which also notes
    a failure for ``/readyz``)."""

    def wrap(self, key: bytes, *, key_id: str) -> tuple[str, bytes]: ...

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes: ...


def _key_id(name: str) -> str:
    return f"secret:{name}"


def shared_secret(engine: sa.Engine, provider: KeyWrapper, name: str, *,
                  seed: Callable[[], bytes], now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> bytes:
    """The 32-byte secret ``name`` every host shares; stored from ``seed()`` if none is yet.

    Raises:
        KeyUnavailableError: this host's KEK set lacks the KEK that wraps it (503).
    """
    query = sa.select(shared_secrets.c.kek_id, shared_secrets.c.wrapped_key).where(shared_secrets.c.name == name)
    with read_tx(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        value = seed()
        if len(value) != 32:
            value = hashlib.sha256(value).digest()
        kek_id, wrapped = provider.wrap(value, key_id=_key_id(name))
        with write_tx(engine) as conn:
            conn.execute(dialect_insert(conn, shared_secrets).values(
                name=name, kek_id=kek_id, wrapped_key=wrapped, created_at=now()).on_conflict_do_nothing())
            row = conn.execute(query).one()  # another host's, if it was first
    return provider.unwrap(row.kek_id, bytes(row.wrapped_key), key_id=_key_id(name))


def has_shared_secrets_table(engine: sa.Engine) -> bool:
    """Whether the schema has ``shared_secrets`` (migration 0018); older tools fall back to files."""
    return sa.inspect(engine).has_table(shared_secrets.name)


class SharedMaterial:
    """What every host over one database must hold the same, and where it is on this host."""

    def __init__(self, files: list[Path], settings: list[str], in_database: list[str]) -> None:
        self.files = files  # copy these (mode kept) to the new host's server directory
        self.settings = settings  # names of settings that must be equal on every host (values not given: secrets)
        self.in_database = in_database  # nothing to copy: every host reads them from the database


def shared_material(settings: Settings) -> SharedMaterial:
    """What ``server add-host`` copies from an existing host.

    The KEK set (unless it comes from the environment or a command: then the operator gives
    the new host the same variable or command), the TLS CA (to issue and check client
    certificates) and the settings that must agree. The audit signing key, the signed audit
    checkpoint and the dashboard secret are in the database (wrapped by the KEK), so they are
    not copied.
    """
    from crashveil.server.keys.kek_sources import kek_file_path

    files = [settings.ca_cert_path, settings.ca_key_path]
    if settings.kek_provider == "file":
        files.insert(0, kek_file_path(settings))
    same = ["database_url", "kek_provider"]
    if settings.kek_provider == "env":
        same.append("kek_env")
    elif settings.kek_provider == "command":
        same += ["kek_command", "kek_command_ttl_s"]
    return SharedMaterial(files, same, [f"shared_secrets: {AUDIT_SIGNING}, {DASHBOARD}", "audit_checkpoint"])
