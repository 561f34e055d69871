"""The key-encryption key (KEK): the provider protocol, the KEK set and the file provider.

The KEK only ever wraps and unwraps 32-byte keys (the data keys and the project keys'
data keys of ``ring``), so a KMS can hold it without handing the key out.
:class:`FileKeyProvider` keeps it in ``DIR/keys/kek.json`` (mode 0600, or the ``kek_file``
setting: a file the operator distributes to every host), apart from the database: a stolen
database or backup alone decrypts nothing. ``kek_sources`` reads the same KEK set from an
environment variable or an operator's command. A set holds the current KEK and earlier ones,
so during a rotation every host unwraps keys wrapped under either.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from crashveil.errors import ConfigError, KeyUnavailableError, SealError
from crashveil.server.keys.crypto import new_data_key, unwrap_key, wrap_key

__all__ = ["FileKeyProvider", "KEK_SET_FORMAT", "KekInfo", "KekSetProvider", "KeyEncryptionKeyProvider",
           "parse_kek_set"]


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
        """The key :meth:`wrap` wrapped; :class:`KeyUnavailableError` if this provider lacks
        ``kek_id`` or it does not unwrap (a server fault: 503), :class:`SealError` if
        ``kek_id`` was destroyed on purpose."""
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


KEK_SET_FORMAT = "crashveil-kek-v1"


def parse_kek_set(text: str, source: str) -> dict[str, Any]:
    """The KEK set in ``text`` (the JSON of a ``kek.json``); :class:`ConfigError` naming
    ``source`` (a path, a variable or a command; never the text: it holds keys)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(source, "is not a KEK set", "the JSON of a crashveil kek.json") from None
    if (not isinstance(data, dict) or data.get("format") != KEK_SET_FORMAT or not isinstance(data.get("keys"), dict)
            or data.get("current") not in data["keys"]):
        raise ConfigError(source, "is not a KEK set", f"format {KEK_SET_FORMAT} with a current key")
    for kek_id, entry in data["keys"].items():
        try:
            if len(base64.b64decode(entry["key"], validate=True)) != 32:
                raise ValueError
            datetime.fromisoformat(entry["created_at"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ConfigError(f"{source}: {kek_id}", "is not a KEK entry",
                              "a 32-byte base64 key and created_at") from None
    return data


class KekSetProvider:
    """Wraps and unwraps with a KEK set (current + earlier KEKs); subclasses say where it comes from.

    A KEK id the set lacks is a server fault (:class:`KeyUnavailableError`, answered 503): a
    host that has not picked up a new KEK set yet must keep the sender's report, not drop it.
    A KEK id listed under ``purged`` was destroyed on purpose (:class:`SealError`: the keys it
    wrapped are gone, crypto-shredding).
    """

    source = "the KEK set"

    def _load(self) -> dict[str, Any]:
        raise NotImplementedError

    def _refresh_on_miss(self) -> dict[str, Any]:
        """The set after a miss: re-read it if the source allows (a rotation may just have landed)."""
        return self._load()

    def _key(self, kek_id: str, *, key_id: str) -> bytes:
        data = self._load()
        entry = data["keys"].get(kek_id)
        if entry is None:
            data = self._refresh_on_miss()
            entry = data["keys"].get(kek_id)
        if entry is None:
            if kek_id in data.get("purged", ()):
                raise SealError("could not unwrap the data key")
            raise KeyUnavailableError(key_id, kek_id, f"is wrapped under a KEK that {self.source} does not hold")
        return base64.b64decode(entry["key"])

    def current_id(self) -> str:
        return str(self._load()["current"])

    def wrap(self, key: bytes, *, key_id: str) -> tuple[str, bytes]:
        kek_id = self.current_id()
        return kek_id, wrap_key(self._key(kek_id, key_id=key_id), key, key_id=key_id)

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: str) -> bytes:
        kek = self._key(kek_id, key_id=key_id)
        try:
            return unwrap_key(kek, wrapped, key_id=key_id)
        except SealError:
            # Our own database's bytes under a KEK we hold: a KEK id reused with another key
            # (two hosts' sets disagree) or a damaged row, never the sender's doing.
            raise KeyUnavailableError(key_id, kek_id, "does not unwrap with the KEK of that id here") from None

    def keys(self) -> list[KekInfo]:
        data = self._load()
        current = data["current"]
        return [KekInfo(kid, datetime.fromisoformat(entry["created_at"]),
                        datetime.fromisoformat(entry["retired_at"]) if entry.get("retired_at") else None,
                        kid == current)
                for kid, entry in data["keys"].items()]


class FileKeyProvider(KekSetProvider):
    """KEKs in a JSON file readable by the server's user only (0600).

    The file is rewritten atomically (temporary file, fsync, rename). It is re-read when it
    changes on disk, so a rotation by ``crashveil keys rotate``, or a KEK set an operator
    copies over it on another host, reaches running servers without a restart.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self.source = f"the KEK file {self._path}"
        self._stamp: tuple[int, int, int] | None = None
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
        data = {"format": KEK_SET_FORMAT, "current": kek_id,
                "keys": {kek_id: _new_entry(now)}}
        _write_secret_json(path, data)
        return cls(path)

    # -- file ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp == self._stamp:
                return self._data
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(self._path), f"cannot be read ({exc.strerror})", "the server's KEK file") from exc
        if stat.st_mode & 0o077:
            raise ConfigError(str(self._path), "is readable by other users", "mode 0600")
        self._data = parse_kek_set(text, str(self._path))
        self._stamp = stamp
        return self._data

    def _save(self) -> None:
        _write_secret_json(self._path, self._data)
        self._stamp = None
        self._load()

    # -- rotation (this host's file) -------------------------------------------------------
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
            # Remembered, so a key wrapped under one reads as destroyed, not as missing (503).
            self._data["purged"] = sorted({*self._data.get("purged", ()), *gone})
            self._save()
        return gone


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
