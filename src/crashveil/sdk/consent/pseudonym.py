"""Keyed pseudonyms: link the reports of one installation without identifying it.

Each install draws a random 32-byte secret once (kept in the app's data dir, mode 0600). The
pseudonym sent with a report is ``HMAC-SHA256(secret, "crashveil/pseudonym/v1" | project |
period)`` cut to 128 bits, where ``period`` is the index of the current rotation window
(``policy.keys.pseudonym_rotation_days``, counted from the epoch by the injected clock).

So the server can count installs affected by a crash within a period, but cannot link
periods, nor projects, nor derive anything about the machine: no hardware id, host name or
user name ever enters the computation. Deleting the secret (on revoke) makes every future
pseudonym unrelated to the past ones.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["SECRET_BYTES", "InstallSecret", "period_index", "pseudonym_for", "write_private_file"]

SECRET_BYTES = 32
_LABEL = b"crashveil/pseudonym/v1\x00"


def period_index(now_s: float, rotation_days: int) -> int:
    """Index of the rotation period containing ``now_s`` (seconds since the epoch)."""
    return int(now_s // (rotation_days * 86_400))


def pseudonym_for(secret: bytes, project: str, period: int) -> str:
    """The 32-hex-character pseudonym of this install for ``project`` in ``period``."""
    import hashlib  # here, not at the top: init() with consent off never needs it
    import hmac

    message = _LABEL + project.encode("utf-8") + b"\x00" + str(period).encode("ascii")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path`` readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


class InstallSecret:
    """The per-install secret on disk; created on first use, never before consent."""

    def __init__(self, path: Path, *, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self.path = path
        self._random_bytes = random_bytes
        self._cached: bytes | None = None
        self._saved = False

    def exists(self) -> bool:
        return self.path.exists()

    def get(self, *, persist: bool = True) -> bytes:
        """The secret, created if there is none yet.

        With ``persist=False`` a new secret stays in memory (a preview before consent must
        not write a file); it is written, unchanged, on the next ``get()`` that persists.
        """
        if self._cached is not None and (self._saved or not persist):
            return self._cached
        if self._cached is None:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            if len(data) == SECRET_BYTES:
                self._cached, self._saved = data, True
                return data
            self._cached = self._random_bytes(SECRET_BYTES)
        if persist:
            write_private_file(self.path, self._cached)
            self._saved = True
        return self._cached

    def pseudonym(self, project: str, now_s: float, rotation_days: int, *, persist: bool = True) -> str:
        """This install's pseudonym for ``project`` at time ``now_s``."""
        return pseudonym_for(self.get(persist=persist), project, period_index(now_s, rotation_days))

    def pseudonyms_since(self, project: str, now_s: float, rotation_days: int, lookback_days: int) -> list[str]:
        """Pseudonyms of every period from ``lookback_days`` ago to now, newest first.

        A deletion request carries them all, so the server can erase what it still keeps
        (the lookback is the longest retention in the policy). Empty when no secret exists:
        nothing was ever sent under a pseudonym.
        """
        if not self.exists() and not self._saved:
            return []
        secret = self.get()
        current = period_index(now_s, rotation_days)
        oldest = period_index(max(0.0, now_s - lookback_days * 86_400), rotation_days)
        return [pseudonym_for(secret, project, period) for period in range(current, oldest - 1, -1)]

    def destroy(self) -> None:
        """Delete the secret: later pseudonyms cannot be linked to earlier ones."""
        self._cached = None
        self._saved = False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
