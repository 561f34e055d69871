"""The remote config in force for one client, and when to fetch it again.

:mod:`crashveil.sdk.remote.config` verifies, caches and fetches the signed document; this
module decides *when*: once per process, by whichever comes first of the start-up thread
(:meth:`RemoteConfigKeeper.refresh`, ``REMOTE_CONFIG_DELAY_S`` after ``init()``) and the
sender about to connect (:meth:`RemoteConfigKeeper.before_send`), and only when the last
check recorded in ``remote_config.checked`` is ``REMOTE_CONFIG_REFRESH_S`` old or its config
expired. Deciding reads a few bytes with ``os``: no import, no signature check.

Imported only when there is consent, a project and a signing key (or a crash needs the
config): like the client, it imports neither ``typing`` nor ``dataclasses`` at run time.
The client passes in what this needs (its options, clock, lock, consent level, transport
and what to do with a new config); nothing here imports the client.
"""

from __future__ import annotations

import os
import threading

from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.pseudonym import write_private_file
from crashveil.sdk.consent.store import OFF

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from crashveil.sdk.options import Options
    from crashveil.sdk.remote.config import RemoteConfig

__all__ = ["REMOTE_CONFIG_DELAY_S", "REMOTE_CONFIG_REFRESH_S", "RemoteConfigKeeper"]

#: The remote config is fetched again once the last check is this old (or the config then in
#: force has expired): the server's config lives 24 h and changes mostly when a crash group
#: turns counts-only under a mass failure, so an hour bounds how late that is noticed.
REMOTE_CONFIG_REFRESH_S = 3600.0
#: A due fetch waits this long after ``init()``: it loads ``http.client``, ``ssl`` and
#: ``cryptography`` and opens a connection, none of which should compete with the app's start.
#: An app that exits sooner fetches only if it sends something (the sender fetches first).
REMOTE_CONFIG_DELAY_S = 5.0
_CHECKED_NAME = "remote_config.checked"  # "<checked_at> <expires_at>": when to fetch again


class RemoteConfigKeeper:
    """The verified remote config of one client: loaded from the cache, refreshed when due.

    ``level`` answers the consent level in force, ``transport`` the client's transport (or
    None), ``apply`` is called with every config loaded or fetched (the sample rate goes to
    the limiter), ``on_fetched`` after a fetched one is applied (breadcrumbs are decided
    again). ``stopping`` is set when the client closes: a start-up fetch not yet begun is
    skipped. ``lock`` is the client's, held while the config is loaded and applied.
    """

    def __init__(self, options: Options, *, project: str | None, now: Callable[[], float],
                 level: Callable[[], str], transport: Callable[[], Any],
                 apply: Callable[[RemoteConfig], None], on_fetched: Callable[[], None],
                 stopping: threading.Event, lock: threading.RLock) -> None:
        self.options = options
        self.data_dir: Path = options.data_dir
        self.project = project
        self.now = now
        self.level = level
        self.transport = transport
        self.apply = apply
        self.on_fetched = on_fetched
        self.stopping = stopping
        self.lock = lock
        #: The config in force; None until first needed (then loaded from the cache).
        self.config: RemoteConfig | None = None
        self.refresh_s = REMOTE_CONFIG_REFRESH_S
        self.delay_s = REMOTE_CONFIG_DELAY_S
        self.thread: threading.Thread | None = None  # the last start-up fetch started (tests join it)
        # One fetch per process, by whichever comes first: the start-up thread or the sender.
        self._fetch_lock = threading.Lock()
        self._fetch_claimed = False

    def current(self) -> RemoteConfig | None:
        """The verified config (cached on disk), or None without a DSN, a project or consent."""
        with self.lock:
            if self.config is None and self.options.dsn is not None and self.project:
                if self.level() == OFF:
                    return None
                from crashveil.sdk.remote.config import load_cached

                self.config = load_cached(self.data_dir / "remote_config.json", self.options.dsn.signing_key,
                                          project=self.project, now=self.now())
                self.apply(self.config)
            return self.config

    def allowed(self) -> bool:
        """A project, a pinned signing key and consent: otherwise never fetched."""
        return bool(self.project) and self.options.dsn_part("signing_key") is not None and self.level() != OFF

    def refresh(self) -> None:
        """Fetch the signed config on a daemon thread, if due (never in a hook; only with consent).

        Due when the last check (``remote_config.checked``, written after every attempt,
        fetched or not) is ``refresh_s`` old, or the config in force then has expired since:
        a second start within the hour opens no connection and loads nothing. The fetch waits
        ``delay_s`` first, and is skipped if the client closes meanwhile or the sender fetched
        already (:meth:`before_send`).
        """
        if not self.allowed() or not self.due():
            return
        delay_s = self.delay_s
        stopping = self.stopping

        def run() -> None:
            if stopping.wait(delay_s):
                return
            if self._claim_fetch():
                self._fetch()

        thread = threading.Thread(target=run, name="crashveil-config", daemon=True)
        self.thread = thread
        thread.start()

    def before_send(self) -> None:
        """The sender's ``before_send``: it is about to connect, so fetch a due config first.

        In the sending thread, synchronously, once per process (not if the start-up fetch
        ran or runs): an app that exits before ``delay_s`` still fetches when it sends, e.g. a
        crash delivered by the exit flush (so it runs while the client closes, unlike the
        start-up fetch). Bounded like the send: by the transport's timeouts, and the flush
        never waits for it beyond its own bound. The config applies to what is captured
        afterwards; items already sealed go as they are.
        """
        if self._fetch_claimed:
            return
        with suppress_internal_errors("remote_config"):
            if not self.allowed() or not self.due():
                return
            if not self._claim_fetch():
                return
        self._fetch()

    def due(self) -> bool:
        """Whether the last check is older than the refresh interval (or its config expired).

        Reads a few bytes with ``os`` only: deciding costs no import and no signature check.
        A missing, torn or future-dated record makes it due.
        """
        try:
            fd = os.open(self.data_dir / _CHECKED_NAME, os.O_RDONLY)
            try:
                raw = os.read(fd, 128)
            finally:
                os.close(fd)
            checked_at, expires_at = (float(part) for part in raw.split())
        except (OSError, ValueError):
            return True
        now = self.now()
        return not 0.0 <= now - checked_at < self.refresh_s or not now < expires_at

    def _claim_fetch(self) -> bool:
        """True for the first caller in this process: the one that fetches."""
        with self._fetch_lock:
            if self._fetch_claimed:
                return False
            self._fetch_claimed = True
            return True

    def _fetch(self) -> None:
        """Fetch, verify, cache, record the check and apply the config (never raises)."""
        with suppress_internal_errors("remote_config"):
            from crashveil.sdk.remote.config import refresh

            transport, dsn, project = self.transport(), self.options.dsn, self.project
            if transport is None or dsn is None or not project:  # not reached: allowed() said yes
                return
            # The attempt is recorded before it starts: a fetch that never returns (a hanging
            # endpoint, the process exiting meanwhile) is not retried before every send of
            # every later run, which would keep a short-lived app's reports from ever leaving.
            self._checked(self.now() + self.refresh_s)
            config = refresh(transport, self.data_dir / "remote_config.json", dsn.signing_key, project=project,
                             now=self.now())
            self._checked(config.expires_at)
            with self.lock:
                self.config = config
            self.apply(config)
            self.on_fetched()

    def _checked(self, expires_at: float) -> None:
        """Record that the config was just checked (``expires_at``: that of the config in force)."""
        record = f"{float(self.now())!r} {float(expires_at)!r}\n"
        write_private_file(self.data_dir / _CHECKED_NAME, record.encode("ascii"))
