"""KEK sets the operator supplies: an environment variable or a command (a KMS, a vault).

Both hold the JSON of a ``kek.json`` (:func:`kek.parse_kek_set`): the current KEK and the
earlier ones still in use. The operator rotates by handing every host a new set whose
``current`` is the new KEK (the old one kept beside it), waits until ``crashveil keys rotate``
reports that every live host has it and has rewrapped, and only then drops the old KEK from
the set. These providers never write: :meth:`rotate` names the current KEK, ``retire`` and
``purge`` do nothing.

:func:`provider_from_settings` picks the provider the settings name (``kek_provider``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crashveil.errors import ConfigError
from crashveil.server.keys.kek import FileKeyProvider, KekSetProvider, KeyEncryptionKeyProvider, parse_kek_set

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["CommandKeyProvider", "EnvKeyProvider", "KEK_PROVIDERS", "kek_file_path", "provider_from_settings"]

KEK_PROVIDERS = ("file", "env", "command")
#: A KEK id the set lacks makes the command run again at most this often (a rotation may just
#: have been distributed), so a flood of reports for an unknown KEK cannot flood the KMS.
COMMAND_MISS_REFRESH_S = 5.0
_COMMAND_TIMEOUT_S = 30.0
_MAX_COMMAND_OUTPUT = 1 << 20


class _ReadOnlyKekSet(KekSetProvider):
    """A KEK set the operator manages elsewhere: never written from here."""

    def rotate(self, *, now: datetime) -> str:
        """The current KEK: a new one comes as a new set from the operator."""
        return self.current_id()

    def retire(self, kek_id: str, *, now: datetime) -> None:
        """Nothing: the operator removes ``kek_id`` from the set once every host has rewrapped."""

    def purge(self, *, retired_before: datetime) -> list[str]:
        return []


class EnvKeyProvider(_ReadOnlyKekSet):
    """The KEK set in an environment variable (read once: a new set needs a restart)."""

    def __init__(self, variable: str, environ: Mapping[str, str] = os.environ) -> None:
        self.source = f"the environment variable {variable}"
        text = environ.get(variable)
        if not text:
            raise ConfigError(variable, "is not set", "the KEK set (the JSON of a kek.json) for kek_provider = 'env'")
        self._data = parse_kek_set(text, f"environment variable {variable}")

    def _load(self) -> dict[str, Any]:
        return self._data


class CommandKeyProvider(_ReadOnlyKekSet):
    """The KEK set printed by an operator's command (no shell), kept ``ttl_s`` seconds.

    A failing command is a :class:`ConfigError` naming the command and its exit status (its
    output is never shown: it holds keys); the last good set keeps serving meanwhile, so a
    KMS hiccup does not stop ingest.
    """

    def __init__(self, argv: tuple[str, ...], *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not argv:
            raise ConfigError("kek_command", "is empty", "the command that prints the KEK set")
        self._argv = tuple(argv)
        self._ttl_s = ttl_s
        self._clock = clock
        self.source = f"the KEK command {shlex.join(self._argv)}"
        self._lock = threading.Lock()
        self._data: dict[str, Any] | None = None
        self._fetched_at = float("-inf")
        self._load()

    def _run(self) -> dict[str, Any]:
        name = shlex.join(self._argv)
        try:
            done = subprocess.run(self._argv, capture_output=True, timeout=_COMMAND_TIMEOUT_S, check=False,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"kek_command {name}", f"could not run ({type(exc).__name__})",
                              "a command that prints the KEK set") from None
        if done.returncode != 0:
            raise ConfigError(f"kek_command {name}", f"exited with status {done.returncode}",
                              "exit status 0 and the KEK set on standard output")
        if len(done.stdout) > _MAX_COMMAND_OUTPUT:
            raise ConfigError(f"kek_command {name}", "printed more than 1 MiB", "the KEK set")
        return parse_kek_set(done.stdout.decode("utf-8", "replace"), f"the output of kek_command {name}")

    def _load(self, *, max_age_s: float | None = None) -> dict[str, Any]:
        max_age = self._ttl_s if max_age_s is None else max_age_s
        with self._lock:
            if self._data is None or self._clock() - self._fetched_at >= max_age:
                try:
                    self._data = self._run()
                except ConfigError:
                    if self._data is None:
                        raise
                    # Keep serving the last good set; try again after the miss interval.
                    self._fetched_at = self._clock() - max(0.0, self._ttl_s - COMMAND_MISS_REFRESH_S)
                    return self._data
                self._fetched_at = self._clock()
            return self._data

    def _refresh_on_miss(self) -> dict[str, Any]:
        return self._load(max_age_s=COMMAND_MISS_REFRESH_S)


def kek_file_path(settings: Settings) -> Path:
    """The KEK file of ``settings``: ``kek_file`` if set, else ``DIR/keys/kek.json``."""
    return Path(settings.kek_file).expanduser() if settings.kek_file else settings.kek_path


def provider_from_settings(settings: Settings, *, environ: Mapping[str, str] = os.environ) -> KeyEncryptionKeyProvider:
    """The KEK provider ``settings.kek_provider`` names."""
    if settings.kek_provider == "env":
        return EnvKeyProvider(settings.kek_env, environ)
    if settings.kek_provider == "command":
        return CommandKeyProvider(tuple(settings.kek_command), ttl_s=settings.kek_command_ttl_s)
    return FileKeyProvider(kek_file_path(settings))
