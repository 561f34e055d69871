"""The key-encryption key (KEK): the provider protocol and the file provider.

The KEK only ever wraps and unwraps 32-byte keys (the data keys and the project keys'
data keys of ``ring``), so a KMS can hold it without handing the key out.
:class:`FileKeyProvider` keeps it in ``DIR/keys/kek.json`` (mode 0600), apart from the
database: a stolen database or backup alone decrypts nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from crashveil.errors import ConfigError, SealError
from crashveil.server.keys.crypto import new_data_key, unwrap_key, wrap_key

__all__ = ["FileKeyProvider", "KekInfo", "KeyEncryptionKeyProvider"]


@dataclass(frozen=True)
class KekInfo:
    """One KEK as a provider lists it (never the key itself)."""

    kek_id: str
    created_at: datetime
    retired_at: datetime | None
    current: bool


@runtime_checkable
class KeyEncryptionKeyProvider(Protocol):
    """Holds the KEK; wraps and unwraps 32-byte keys bound to a ``key_id``.

    A KMS implementation calls the KMS's encrypt/decrypt with ``key_id`` as its context.
    """

    def wrap(self, key: bytes, *, key_id: str) -> tuple[str, bytes]:
        """``key`` wrapped by the current KEK: (kek_id, wrapped)."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes:
        """The key :meth:`wrap` wrapped; :class:`SealError` if it cannot be unwrapped."""
        ...

    def current_id(self) -> str:
        ...

    def rotate(self, *, now: datetime) -> str:
        """Make a new current KEK and return its id (the old ones still unwrap)."""
        ...

    def retire(self, kek_id: str, *, now: datetime) -> None:
        """Mark ``kek_id`` as no longer wrapping anything (kept for old backups)."""
        ...

    def purge(self, *, retired_before: datetime) -> list[str]:
        """Destroy KEKs retired before the given time; returns their ids."""
        ...

    def keys(self) -> list[KekInfo]:
        ...


def _kek_id(now: datetime) -> str:
    return f"kek-{now:%Y%m%d}-{secrets.token_hex(4)}"


class FileKeyProvider:
    """KEKs in a JSON file readable by the server's user only (0600).

    The file is rewritten atomically (temporary file, fsync, rename). It is re-read when it
    changes on disk, so a rotation by ``crashveil keys rotate`` reaches running servers.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._data: dict[str, Any] = {}
        self._load()

    @classmethod
    def create(cls, path: Path, *, now: datetime) -> FileKeyProvider:
        """A new key file with one KEK; :class:`ConfigError` if the file exists."""
        path = Path(path)
        if path.exists():
            raise ConfigError(str(path), "already exists", "a new server directory")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        kek_id = _kek_id(now)
        data = {"format": "crashveil-kek-v1", "current": kek_id,
                "keys": {kek_id: _new_entry(now)}}
        _write_secret_json(path, data)
        return cls(path)

    # -- file ---------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(self._path), f"cannot be read ({exc.strerror})", "the server's KEK file") from exc
        if stat.st_mode & 0o077:
            raise ConfigError(str(self._path), "is readable by other users", "mode 0600")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(str(self._path), "is not a KEK file", "JSON written by crashveil") from exc
        if data.get("format") != "crashveil-kek-v1" or data.get("current") not in data.get("keys", {}):
            raise ConfigError(str(self._path), "is not a KEK file", "format crashveil-kek-v1 with a current key")
        self._data = data
        self._stamp = stamp

    def _save(self) -> None:
        _write_secret_json(self._path, self._data)
        self._stamp = None
        self._load()

    def _key(self, kek_id: str) -> bytes:
        self._load()
        entry = self._data["keys"].get(kek_id)
        if entry is None:
            raise SealError("could not unwrap the data key")
        return base64.b64decode(entry["key"])

    # -- protocol -----------------------------------------------------------------------
    def current_id(self) -> str:
        self._load()
        return str(self._data["current"])

    def wrap(self, key: bytes, *, key_id: str) -> tuple[str, bytes]:
        kek_id = self.current_id()
        return kek_id, wrap_key(self._key(kek_id), key, key_id=key_id)

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes:
        return unwrap_key(self._key(kek_id), wrapped, key_id=key_id)

    def rotate(self, *, now: datetime) -> str:
        self._load()
        kek_id = _kek_id(now)
        self._data["keys"][kek_id] = _new_entry(now)
        self._data["current"] = kek_id
        self._save()
        return kek_id

    def retire(self, kek_id: str, *, now: datetime) -> None:
        self._load()
        entry = self._data["keys"].get(kek_id)
        if entry is not None and kek_id != self._data["current"] and not entry.get("retired_at"):
            entry["retired_at"] = now.isoformat()
            self._save()

    def purge(self, *, retired_before: datetime) -> list[str]:
        self._load()
        gone = [kid for kid, entry in self._data["keys"].items()
                if entry.get("retired_at") and datetime.fromisoformat(entry["retired_at"]) < retired_before]
        if gone:
            for kid in gone:
                del self._data["keys"][kid]
            self._save()
        return gone

    def keys(self) -> list[KekInfo]:
        self._load()
        current = self._data["current"]
        return [KekInfo(kid, datetime.fromisoformat(entry["created_at"]),
                        datetime.fromisoformat(entry["retired_at"]) if entry.get("retired_at") else None,
                        kid == current)
                for kid, entry in self._data["keys"].items()]


def _new_entry(now: datetime) -> dict[str, str | None]:
    return {"key": base64.b64encode(new_data_key()).decode("ascii"), "created_at": now.isoformat(),
            "retired_at": None}


def _write_secret_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
