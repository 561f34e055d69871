"""Keyed pseudonyms: link the reports of one installation without identifying it.

Each install draws a random 32-byte secret once (kept in the app's data dir, mode 0600). The
pseudonym sent with a report (scheme v2, ``crashveil.wire.install_code``) is
``HMAC-SHA256(erasure_key, "crashveil/pseudonym/v2" | project | period)`` cut to 128 bits, where
``erasure_key`` is derived from the secret (120 bits) and ``period`` is the index of the current
rotation window (``policy.keys.pseudonym_rotation_days``, counted from the epoch by the
injected clock).

So the server can count installs affected by a crash within a period, but cannot link
periods, nor projects, nor derive anything about the machine: no hardware id, host name or
user name ever enters the computation. The erasure key, shown to the user as the installation
code (:meth:`InstallSecret.installation_code`), is what links the periods: given it, a privacy
officer erases every report of the installation kept, after the app is gone. Deleting the
secret (on revoke) makes every future pseudonym unrelated to the past ones.

Upgrade from scheme v1 (``HMAC(secret, "crashveil/pseudonym/v1" | ...)``, before installation
codes): an install's pseudonyms change once, at the upgrade, so the server counts it twice in
that period; ``revoke()`` names both schemes' pseudonyms, so nothing sent before the upgrade is
left behind (the installation code reaches v2 reports only; v1 ones age out by retention).
"""

from __future__ import annotations

import os

from crashveil.wire.install_code import period_index

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["SECRET_BYTES", "InstallSecret", "period_index", "pseudonym_for", "write_private_file"]

SECRET_BYTES = 32


def pseudonym_for(secret: bytes, project: str, period: int) -> str:
    """The 32-hex-character pseudonym (scheme v2) of this install for ``project`` in ``period``."""
    from crashveil.wire.install_code import erasure_key, pseudonym_v2  # here: init() never needs it

    return pseudonym_v2(erasure_key(secret), project, period)


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
        (the lookback is the longest retention in the policy): per period the v2 pseudonym,
        then the v1 one (reports sent before the upgrade to installation codes). Empty when
        no secret exists: nothing was ever sent under a pseudonym.
        """
        if not self.exists() and not self._saved:
            return []
        from crashveil.wire.install_code import erasure_key, pseudonym_v1, pseudonym_v2

        secret = self.get()
        key = erasure_key(secret)
        current = period_index(now_s, rotation_days)
        oldest = period_index(max(0.0, now_s - lookback_days * 86_400), rotation_days)
        return [name for period in range(current, oldest - 1, -1)
                for name in (pseudonym_v2(key, project, period), pseudonym_v1(secret, project, period))]

    def installation_code(self) -> str | None:
        """The code that lets a privacy officer erase this installation's reports from outside
        the app (``crashveil.wire.install_code``); None while there is no secret (nothing was
        ever sent under a pseudonym). Reading it writes nothing."""
        if not self.exists() and not self._saved:
            return None
        from crashveil.wire.install_code import erasure_key, format_code

        return format_code(erasure_key(self.get(persist=False)))

    def destroy(self) -> None:
        """Delete the secret: later pseudonyms cannot be linked to earlier ones."""
        self._cached = None
        self._saved = False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
