"""The client: capture -> collect -> redact -> limits -> seal -> queue -> wake the sender.

One ``Client`` per process, created by ``crashveil.init()``; before that (and after
``shutdown()``) a ``NullClient`` answers every call, so the facade never asks "am I
initialised?" (sentry-python's ``NonRecordingClient``).

The order is the design's (DESIGN.md section 2). Consent is read first: at level ``off``
nothing below runs, no file is written and no socket opened. The report is built from the
allowlist at the granted level (``collect.py``), redacted while it is built, checked against
the sampling and rate limits (``limits.py``), sealed to the project's public key and written
to the on-disk queue *before* the capture returns: a process that dies right after still has
its crash on disk. The network is the sender thread's business.

Everything reached from a hook runs inside ``suppress_internal_errors``; only the consent
calls of the facade raise, with ``ConfigError``, when asked for something impossible.
"""

from __future__ import annotations

import os
import threading
import time

from crashveil.errors import ConfigError
from crashveil.sdk import _internal
from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent import OFF, ConsentStore
from crashveil.sdk.pseudonym import InstallSecret, write_private_file

# Not ``typing.TYPE_CHECKING``: ``init()`` imports neither ``typing`` nor ``dataclasses`` (nor
# ``pathlib`` from here); together they are several milliseconds of every app's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType
    from typing import Any

    from crashveil.policy.model import Policy
    from crashveil.policy.report import Report
    from crashveil.redact import Redactor
    from crashveil.sdk._records import DisclosureRequest, PendingCrash
    from crashveil.sdk.collect import Collector, CrashRecord
    from crashveil.sdk.history import History, HistoryEntry
    from crashveil.sdk.options import Options

__all__ = ["Client", "NullClient", "DisclosureRequest", "PendingCrash"]

_PENDING_LABEL = b"crashveil/pending/v1"
_QUEUE_FILE_SUFFIX = ".cvq"  # crashveil.sdk.queue's item files and temp files, named here so
_QUEUE_TMP_PREFIX = ".tmp-"  # start() can look at the directory without importing the queue
#: The remote config is fetched again once the last check is this old (or the config then in
#: force has expired): the server's config lives 24 h and changes mostly when a crash group
#: turns counts-only under a mass failure, so an hour bounds how late that is noticed.
REMOTE_CONFIG_REFRESH_S = 3600.0
#: A due fetch waits this long after ``init()``: it loads ``http.client``, ``ssl`` and
#: ``cryptography`` and opens a connection, none of which should compete with the app's start.
#: An app that exits sooner fetches only if it sends something (the sender fetches first).
REMOTE_CONFIG_DELAY_S = 5.0
_REMOTE_CHECKED_NAME = "remote_config.checked"  # "<checked_at> <expires_at>": when to fetch again


def __getattr__(name: str) -> Any:
    """``DisclosureRequest`` and ``PendingCrash`` (dataclasses), loaded on first use."""
    if name in ("DisclosureRequest", "PendingCrash"):
        from crashveil.sdk import _records

        return getattr(_records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class NullClient:
    """What the facade talks to before ``init()``: records nothing, asks nothing."""

    enabled = False

    def capture_exception(self, exc: BaseException, *, mechanism: str = "manual",
                          tb: TracebackType | None = None) -> str | None:
        return None

    def add_breadcrumb(self, message: str, category: str = "default") -> None:
        return None

    def level(self) -> str:
        return OFF

    def needs_prompt(self) -> bool:
        return False

    def grant(self, level: str, *, ask_each_time: bool | None = None) -> None:
        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before recording consent")

    def revoke(self) -> None:
        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before revoking consent")

    def preview(self, exc: BaseException, level: str | None = None) -> Report | None:
        return None

    def history(self) -> list[HistoryEntry]:
        return []

    def pending(self) -> list[PendingCrash]:
        return []

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def close(self, *, uninstall: bool = True) -> None:
        return None


class Client:
    """Owns the options, the consent store, the queue and the sender of one app.

    ``init()`` must stay cheap (DESIGN.md section 6): with consent ``off`` it reads one small
    file and installs the hooks. The policy (when it is the shipped one), the redactor, the
    collector and the history are made on first need: the first capture, ``preview()`` ... A
    crash right after ``init()`` builds them in the hook, synchronously, before its report is
    written. With consent given (earlier, or by ``grant()`` now) the shipped policy is still
    not built: the consent store answers from its pre-computed facts
    (``crashveil.policy.shipped``), and the queue is opened only if it holds files.
    """

    enabled = True

    def __init__(self, options: Options) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.now = options.now
        policy_loaded = getattr(options, "policy_loaded", None)
        lazy = policy_loaded is not None and not policy_loaded()
        if lazy:  # the shipped policy, built on first need; its facts answer init() and grant()
            from crashveil.policy.shipped import shipped_policy_facts

            self.consent = ConsentStore(self.data_dir, lambda: options.policy, now=self.now,
                                        facts=shipped_policy_facts)
        else:
            self.consent = ConsentStore(self.data_dir, options.policy, now=self.now)
        self.secret = InstallSecret(self.data_dir / "secrets" / "install.key")
        self.public_key = None
        public_key = options.dsn_part("public_key")  # not options.dsn: that dataclass can wait
        if public_key is not None:  # checked now: a bad key is a ConfigError at init()
            from crashveil.keyfmt import ProjectPublicKey

            self.public_key = ProjectPublicKey.parse(public_key, key="dsn.key")
        self.project = options.project
        self.observers: list[Callable[[Report], None]] = []
        self._lock = threading.RLock()
        self._redactor: Redactor | None = None
        self._collector: Collector | None = None
        self._history: History | None = None
        self._queue: Any = None
        self._sender: Any = None
        self._transport: Any = options.transport
        self._limiter: Any = None
        self._remote: Any = None
        self.remote_config_refresh_s = REMOTE_CONFIG_REFRESH_S
        self.remote_config_delay_s = REMOTE_CONFIG_DELAY_S
        self.remote_config_thread: threading.Thread | None = None  # the last fetch started (tests join it)
        # One fetch per process, by whichever comes first: the start-up thread or the sender.
        self._remote_fetch_lock = threading.Lock()
        self._remote_fetch_claimed = False
        self._stopping = threading.Event()  # set by close(): a fetch not yet started is skipped
        self._closed = False
        self.hooks: Any = None
        #: The in-memory breadcrumb ring (``sdk/breadcrumbs.py``), made on the first kept crumb.
        self.breadcrumbs: Any = None
        self.breadcrumb_clock: Callable[[], float] = time.monotonic
        self._breadcrumbs_on: bool | None = None  # None: not decided since the last consent change

    # -- made on first need ----------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        """The policy in force (the shipped one is parsed on first read)."""
        return self.consent.policy

    @property
    def redactor(self) -> Redactor:
        with self._lock:
            if self._redactor is None:
                from crashveil.redact import Redactor

                policy = self.policy
                self._redactor = Redactor(detectors=policy.redaction.detectors,
                                          placeholders=policy.redaction.placeholders)
            return self._redactor

    @property
    def collector(self) -> Collector:
        with self._lock:
            if self._collector is None:
                from crashveil.sdk.collect import Collector

                options = self.options
                self._collector = Collector(self.policy, app_root=options.app_root, release=options.release,
                                            redactor=self.redactor, now=self.now, rng=options.rng,
                                            digest=self.consent.digest)
            return self._collector

    @property
    def history_log(self) -> History:
        with self._lock:
            if self._history is None:
                from crashveil.sdk.history import History

                self._history = History(self.data_dir, keep_content=self.options.keep_history_content,
                                        now=self.now)
            return self._history

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Deliver what the last run left (reports, deletion requests, native faults)."""
        with suppress_internal_errors("start"):
            queue = self.queue(create=False) if self._queue_has_files() else None
            if queue is not None and self.consent.level() == OFF:
                for item in queue.items():  # consent withdrawn: only deletion requests may go
                    if item.meta.kind != "deletion":
                        queue.remove(item.id)
            if queue is not None and any(item.meta.kind in ("report", "deletion") for item in queue.items()):
                self.wake_sender()
            self.refresh_remote_config()

    def _queue_has_files(self) -> bool:
        """Whether the queue directory holds an item or a temp file (``os.scandir`` only).

        Usually it is missing or empty (everything was sent): then ``start()`` need not
        import the queue, read items or start the sender. Anything there (an item, a torn
        write left by a crash) and the queue is opened and checked as always.
        """
        try:
            with os.scandir(self.data_dir / "queue") as entries:
                return any(entry.name.endswith(_QUEUE_FILE_SUFFIX) or entry.name.startswith(_QUEUE_TMP_PREFIX)
                           for entry in entries)
        except OSError:
            return False

    def close(self, *, uninstall: bool = True) -> None:
        """Flush within the bounded timeout, then stop the sender.

        At exit (``uninstall=False``) the hooks stay: a crash during interpreter shutdown
        (an atexit callback, a ``__del__``) is still written to the queue, and sent at the
        next start.
        """
        self._stopping.set()
        with suppress_internal_errors("close"):
            if uninstall and self.hooks is not None:
                self.hooks.uninstall()
        if self._closed:
            return
        self._closed = True
        with suppress_internal_errors("close"):
            if self._sender is not None:
                self._sender.flush(self.options.flush_timeout_s)
                self._sender.close()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait (bounded) until the queue is sent; False if time ran out."""
        if self._sender is None:
            return True
        with suppress_internal_errors("flush"):
            return bool(self._sender.flush(self.options.flush_timeout_s if timeout_s is None else timeout_s))
        return False

    # -- capture -------------------------------------------------------------------------
    def capture_exception(self, exc: BaseException, *, mechanism: str = "manual",
                          tb: TracebackType | None = None) -> str | None:
        """Report ``exc`` if the user consented; returns the report id, or None.

        Never raises: a failure inside the SDK is swallowed, counted and logged at debug.
        """
        if _internal.in_sdk():
            return None
        with suppress_internal_errors("capture"):
            level = self.consent.level()
            if level == OFF or not isinstance(exc, BaseException):
                return None
            record = self._with_breadcrumbs(self.collector.record(exc, mechanism=mechanism, tb=tb))
            return self.process(record, level)
        return None

    # -- breadcrumbs ---------------------------------------------------------------------
    def add_breadcrumb(self, message: str, category: str = "default") -> None:
        """Remember a step the app took, in memory only, if the user's level allows breadcrumbs.

        A no-op (one check) without that consent or when the remote config turned the module
        off. Never raises.
        """
        if self._breadcrumbs_on is False:
            return
        with suppress_internal_errors("breadcrumb"):
            if not self.breadcrumbs_enabled():
                return
            if not isinstance(message, str):
                return
            if not isinstance(category, str) or not category:
                category = "default"
            if self.breadcrumbs is None:
                with self._lock:
                    if self.breadcrumbs is None:
                        from crashveil.sdk.breadcrumbs import Breadcrumbs

                        self.breadcrumbs = Breadcrumbs(clock=self.breadcrumb_clock)
            self.breadcrumbs.add(message, category)

    def breadcrumbs_enabled(self) -> bool:
        """True while the granted level's allowlist has ``breadcrumbs`` and the server did not
        turn the module off (decided once per consent or remote-config change)."""
        decided = self._breadcrumbs_on
        if decided is None:
            level = self.consent.level()
            decided = level != OFF and "breadcrumbs" in self.consent.allowed_fields(level)
            if decided:
                remote = self.remote_config()
                decided = remote is None or remote.module_enabled("breadcrumbs")
            self._breadcrumbs_on = decided
            if not decided:
                self.clear_breadcrumbs()
        return decided

    def clear_breadcrumbs(self) -> None:
        """Forget every breadcrumb held in memory."""
        ring = self.breadcrumbs
        if ring is not None:
            ring.clear()

    def _breadcrumbs_changed(self) -> None:
        """Consent or remote config changed: decide again, and forget the crumbs if now disallowed.

        Decided now only when a ring exists (crumbs may be held); otherwise at the next
        ``add_breadcrumb()``: a ``grant()`` need not read the remote config (its signature
        check loads ``cryptography``) for crumbs nobody has added yet.
        """
        self._breadcrumbs_on = None
        if self.breadcrumbs is None:
            return
        with suppress_internal_errors("breadcrumb"):
            self.breadcrumbs_enabled()
        if self._breadcrumbs_on is not True:
            self.clear_breadcrumbs()

    def _with_breadcrumbs(self, record: CrashRecord) -> CrashRecord:
        """``record`` carrying the ring's crumbs (offsets before now), if they may be kept."""
        ring = self.breadcrumbs
        if ring is None or not self.breadcrumbs_enabled():
            return record
        crumbs = ring.snapshot()
        if not crumbs:
            return record
        from dataclasses import replace  # loaded already: a CrashRecord exists

        return replace(record, breadcrumbs=crumbs)

    def process(self, record: CrashRecord, level: str) -> str | None:
        """Limits, build, seal, queue (synchronously), then wake the sender."""
        level = self._disclose(record, level)
        remote = self.remote_config()
        if remote is not None and remote.counts_only(record.fingerprint):
            _internal.count_dropped("counts_only")
            return None
        limiter = self.limiter()
        if limiter is not None:
            decision = limiter.decide(record.fingerprint)
            if decision != "send":
                return None
        report = self._build(record, level)
        for observer in list(self.observers):
            observer(report)
        payload = report.to_json()
        pending = self.consent.ask_each_time()
        sealed = self._seal_locally(payload) if pending else self._seal(payload)
        if sealed is None:
            return None
        from crashveil.sdk.queue import QueueMeta

        kind = "pending" if pending else "report"
        meta = QueueMeta(kind=kind, crash_type=report.crash_type, level=level, created=record.occurred_s)
        # The queue file first (the crash is on disk before anything else), then the history
        # line: killed in between, the sender records the line from the item's queue meta
        # when it delivers it (``_on_sent``).
        item_id = self.queue(create=True).put(sealed, meta)
        if not item_id:
            return None
        self._stats_reported(report)
        self.history_log.record(item_id, kind=kind, crash_type=report.crash_type, level=level,
                                state="pending" if pending else "queued", content=payload.decode())
        if not pending:
            self.wake_sender()
        return report.report_id

    def _build(self, record: CrashRecord, level: str, *, persist: bool = True, comment: str | None = None) -> Report:
        if record.breadcrumbs:
            remote = self.remote_config()
            if remote is not None and not remote.module_enabled("breadcrumbs"):
                from dataclasses import replace

                record = replace(record, breadcrumbs=())
        install_id = None
        if self.project and self.policy.allows(level, "install_id"):
            install_id = self.secret.pseudonym(self.project, self.now(), self.policy.keys.pseudonym_rotation_days,
                                               persist=persist)
        return self.collector.build(record, level, install_id=install_id,
                                    client_stats=self._stats() if persist else None, comment=comment,
                                    allowed_fields=self.consent.allowed_fields(level))

    def _stats(self) -> dict[str, int]:
        stats: dict[str, int] = {}
        sources = [_internal.dropped_counts()]
        limiter = self._limiter
        if limiter is not None:
            sources.append(dict(limiter.counts()))
        queue = self.queue(create=False)
        if queue is not None:
            sources.append(dict(queue.dropped))
        for source in sources:
            for key, value in source.items():
                stats[key] = stats.get(key, 0) + int(value)
        return stats

    def _stats_reported(self, report: Report) -> None:
        """The counts went out with this report: start counting afresh."""
        if not report.client_stats:
            return
        if self._limiter is not None:
            self._limiter.take_counts()
        queue = self.queue(create=False)
        if queue is not None:
            queue.take_dropped()
        _internal.reset_dropped()

    def _disclose(self, record: CrashRecord, level: str) -> str:
        """Progressive disclosure: a richer level for this crash only if the user agrees."""
        granted = self.consent.disclosure(record.fingerprint)
        if granted is not None and self.policy.rank(granted) > self.policy.rank(level):
            return granted
        callback = self.options.consent_callback
        remote = self.remote_config()
        if callback is None or remote is None or self.consent.needs_prompt():
            return level
        requested = remote.requested_level(record.fingerprint)
        if requested not in self.policy.level_names or self.policy.rank(requested) <= self.policy.rank(level):
            return level
        preview = self._build(record, requested, persist=False)
        added = tuple(name for name in self.policy.fields_at(requested) if name not in self.policy.fields_at(level))
        from crashveil.sdk._records import DisclosureRequest

        request = DisclosureRequest(fingerprint=record.fingerprint, crash_type=record.crash_type,
                                    current_level=level, requested_level=requested, added_fields=added,
                                    preview=preview)
        answer = False
        with suppress_internal_errors("consent_callback"):
            answer = callback(request) is True
        if answer:
            self.consent.grant_disclosure(record.fingerprint, requested)
            return requested
        return level

    # -- sealing -------------------------------------------------------------------------
    def _seal(self, payload: bytes) -> bytes | None:
        if self.public_key is None or self.project is None:
            _internal.count_dropped("no_dsn")
            return None
        from crashveil.policy.report import SCHEMA_VERSION
        from crashveil.sdk.seal import seal_report

        return seal_report(payload, self.public_key, project_id=self.project, schema_version=SCHEMA_VERSION)

    def _pending_key(self) -> bytes:
        path = self.data_dir / "secrets" / "pending.key"
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) != 32:
            key = os.urandom(32)
            write_private_file(path, key)
        return key

    def _seal_locally(self, payload: bytes) -> bytes:
        """AES-256-GCM under a device key: the user can review it at the next start."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        return nonce + AESGCM(self._pending_key()).encrypt(nonce, payload, _PENDING_LABEL)

    def _open_locally(self, sealed: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._pending_key()).decrypt(sealed[:12], sealed[12:], _PENDING_LABEL)

    # -- "ask me each time" --------------------------------------------------------------
    def pending(self) -> list[PendingCrash]:
        """Crashes waiting for the user's decision, oldest first."""
        from crashveil.policy.report import report_from_json
        from crashveil.sdk._records import PendingCrash

        result: list[PendingCrash] = []
        queue = self.queue(create=False)
        if queue is None:
            return result
        for item in queue.items():
            if item.meta.kind != "pending":
                continue
            with suppress_internal_errors("pending_read"):
                report, _ = report_from_json(self._open_locally(queue.read(item)))
                result.append(PendingCrash(id=item.id, created=item.meta.created, crash_type=item.meta.crash_type,
                                           level=item.meta.level, report=report))
        return result

    def decide(self, item_id: str, level: str | None, comment: str | None = None) -> str | None:
        """Send a pending crash at ``level`` (at most the level it was kept at), or discard it.

        ``comment`` is the user's note; it is redacted and cut like every other string.
        Returns the report id sent, or None when discarded.
        """
        crash = next((c for c in self.pending() if c.id == item_id), None)
        if crash is None:
            raise ConfigError("item_id", "is not a pending crash", "an id from pending()")
        queue = self.queue(create=True)
        if level is None or level == OFF:
            queue.remove(item_id)
            self.history_log.update(item_id, state="discarded")
            return None
        if level not in self.policy.level_names:
            raise ConfigError("level", "is not a consent level of the policy", ", ".join(self.policy.level_names))
        if self.policy.rank(level) > self.policy.rank(crash.level):
            level = crash.level  # never more than was granted when the crash was kept
        from dataclasses import replace

        report = crash.report.restricted_to(self.consent.allowed_fields(level))
        report = replace(report, consent_level=level)
        if comment and self.policy.allows(level, "comment"):
            report = replace(report, comment=self.collector.redact_text(comment))
        payload = report.to_json()
        sealed = self._seal(payload)
        if sealed is None:
            return None
        from crashveil.sdk.queue import QueueMeta

        new_id = queue.put(sealed, QueueMeta(kind="report", crash_type=report.crash_type, level=level,
                                             created=crash.created))
        queue.remove(item_id)
        self.history_log.update(item_id, state="approved")
        self.history_log.record(new_id, kind="report", crash_type=report.crash_type, level=level, state="queued",
                                content=payload.decode(), at=crash.created)
        self.wake_sender()
        return report.report_id

    # -- consent -------------------------------------------------------------------------
    def level(self) -> str:
        return self.consent.level()

    def needs_prompt(self) -> bool:
        return self.consent.needs_prompt()

    def grant(self, level: str, *, ask_each_time: bool | None = None) -> None:
        """Record the user's choice. Choosing ``off`` drops what is queued but not yet sent."""
        if level == OFF and self.consent.level() != OFF:
            self._drop_unsent()
        each_time = self.options.ask_each_time if ask_each_time is None else ask_each_time
        self.consent.grant(level, ask_each_time=each_time)
        self._breadcrumbs_changed()
        if level != OFF and self.project:
            self.secret.get(persist=True)
        self.after_grant()

    def after_grant(self) -> None:
        """Native-fault capture runs only while there is consent."""
        if self.hooks is not None:
            if self.consent.level() == OFF:
                self.hooks.stop_native()
            else:
                self.hooks.start_native()

    def install_hooks(self) -> None:
        """Install the crash hooks (``init()`` does this; tests may use a bare client)."""
        from crashveil.sdk.hooks import Hooks

        self.hooks = Hooks(self)
        self.hooks.install()

    def revoke(self) -> None:
        """Delete the queue and secrets; queue a deletion request until the server acknowledges it."""
        import shutil

        pseudonyms = []
        if self.project:
            lookback = max((rule.retention_days for rule in self.policy.fields.values()), default=0)
            pseudonyms = self.secret.pseudonyms_since(self.project, self.now(),
                                                      self.policy.keys.pseudonym_rotation_days, lookback)
        queue = self.queue(create=False)
        if queue is not None:
            queue.clear()
        self.secret.destroy()
        shutil.rmtree(self.data_dir / "secrets", ignore_errors=True)
        shutil.rmtree(self.data_dir / "native", ignore_errors=True)
        for name in ("limits.json",):
            with suppress_internal_errors("revoke"):
                (self.data_dir / name).unlink(missing_ok=True)
        self.consent.grant(OFF)
        self._breadcrumbs_on = False
        self.clear_breadcrumbs()
        self.after_grant()
        if pseudonyms:
            self._queue_deletion(pseudonyms)

    def _queue_deletion(self, pseudonyms: list[str]) -> None:
        import json

        from crashveil.policy.protocol import MAX_DELETION_IDS

        # The server's contract (policy/protocol.py): a fresh request id and the install ids,
        # newest first. The id is sealed with the request, so retries carry the same one.
        payload = json.dumps({"request_id": self.collector.new_report_id(),
                              "install_ids": pseudonyms[:MAX_DELETION_IDS]},
                             sort_keys=True, separators=(",", ":")).encode()
        sealed = self._seal(payload)
        if sealed is None:
            return
        from crashveil.sdk.queue import QueueMeta

        item_id = self.queue(create=True).put(sealed, QueueMeta(kind="deletion", crash_type="", level=OFF,
                                                                created=self.now()))
        self.history_log.record(item_id, kind="deletion", crash_type="", level=OFF, state="queued")
        self.wake_sender()

    def _drop_unsent(self) -> None:
        queue = self.queue(create=False)
        if queue is None:
            return
        for item in queue.items():
            if item.meta.kind != "deletion":
                queue.remove(item.id)
                self.history_log.update(item.id, state="discarded")

    # -- preview and history -------------------------------------------------------------
    def preview(self, exc: BaseException, level: str | None = None) -> Report:
        """The exact redacted report that would be sent for ``exc`` at ``level``.

        ``level`` defaults to the granted level, or the lowest level above ``off`` when
        nothing is granted (what the user would send by saying yes). Writes nothing.
        """
        if level is None:
            level = self.consent.level()
            if level == OFF:
                level = next(lvl.name for lvl in self.policy.levels if lvl.rank > 0)
        if level not in self.policy.level_names or level == OFF:
            raise ConfigError("level", "is not a consent level above 'off'",
                              ", ".join(name for name in self.policy.level_names if name != OFF))
        record = self._with_breadcrumbs(self.collector.record(exc, mechanism="manual"))
        install_id = None
        if self.project and self.policy.allows(level, "install_id"):
            install_id = self.secret.pseudonym(self.project, self.now(), self.policy.keys.pseudonym_rotation_days,
                                               persist=False)
        return self.collector.build(record, level, install_id=install_id)

    def history(self) -> list[HistoryEntry]:
        return self.history_log.entries()

    # -- collaborators, created on first need ----------------------------------------------
    def queue(self, *, create: bool) -> Any:
        """The sealed queue; with ``create=False`` None unless its directory already exists."""
        with self._lock:
            if self._queue is None:
                directory = self.data_dir / "queue"
                if not create and not directory.is_dir():
                    return None
                from crashveil.sdk.queue import SealedQueue

                limits = self.policy.limits
                self._queue = SealedQueue(directory, max_reports=limits.queue_max_reports,
                                          max_bytes=limits.queue_max_bytes,
                                          max_age_days=limits.queue_max_age_days, now=self.now)
            return self._queue

    def transport(self) -> Any:
        with self._lock:
            if self._transport is None and self.options.dsn is not None:
                from crashveil.sdk.transport import HttpsTransport

                self._transport = HttpsTransport(self.options.dsn, client_cert=self.options.client_cert,
                                                 client_key=self.options.client_key, timeout_s=10.0)
            return self._transport

    def wake_sender(self) -> None:
        if self._closed:
            return  # at exit: the queue keeps it for the next start
        with suppress_internal_errors("sender"):
            with self._lock:
                if self._sender is None:
                    transport = self.transport()
                    queue = self.queue(create=False)
                    if transport is None or queue is None:
                        return
                    from crashveil.sdk.sender import Sender

                    self._sender = Sender(queue, transport, on_sent=self._on_sent,
                                          before_send=self.refresh_remote_config_before_send)
            self._sender.wake()

    def _on_sent(self, item: Any, result: Any) -> None:
        """The sender finished ``item`` (it is still queued): settle its history line.

        An item with no line yet (killed between its queue file and its line, or delivered
        before the capture wrote the line) is recorded from its queue meta.
        """
        with suppress_internal_errors("history"):
            status = int(result.status)
            receipt = None
            if 200 <= status < 300:
                state = "acknowledged" if item.meta.kind == "deletion" else "sent"
                receipt = result.receipt
            elif 400 <= status < 500 and status not in (408, 429):
                state = "rejected"
            else:
                return
            meta = item.meta
            self.history_log.settle(item.id, state=state, receipt=receipt, kind=meta.kind,
                                    crash_type=meta.crash_type, level=meta.level, at=meta.created)

    def limiter(self) -> Any:
        with self._lock:
            if self._limiter is None:
                from crashveil.sdk.limits import Limiter

                self._limiter = Limiter(self.policy, release=self.options.release, cohort=self.options.cohort,
                                        state_path=self.data_dir / "limits.json", now=self.now,
                                        rng=self.options.rng)
            return self._limiter

    def remote_config(self) -> Any:
        """The verified remote config (cached on disk), or None without a DSN or consent."""
        with self._lock:
            if self._remote is None and self.options.dsn is not None and self.project:
                if self.consent.level() == OFF:
                    return None
                from crashveil.sdk.remote_config import load_cached

                self._remote = load_cached(self.data_dir / "remote_config.json", self.options.dsn.signing_key,
                                           project=self.project, now=self.now())
                self._apply_remote(self._remote)
            return self._remote

    def refresh_remote_config(self) -> None:
        """Fetch the signed config on a daemon thread, if due (never in a hook; only with consent).

        Due when the last check (``remote_config.checked``, written after every attempt,
        fetched or not) is ``remote_config_refresh_s`` old, or the config in force then has
        expired since: a second start within the hour opens no connection and loads nothing.
        The fetch waits ``remote_config_delay_s`` first, and is skipped if the client closes
        meanwhile or the sender fetched already (:meth:`refresh_remote_config_before_send`).
        """
        if not self._remote_config_allowed() or not self._remote_config_due():
            return
        delay_s = self.remote_config_delay_s
        stopping = self._stopping

        def run() -> None:
            if stopping.wait(delay_s):
                return
            if self._claim_remote_fetch():
                self._fetch_remote_config()

        thread = threading.Thread(target=run, name="crashveil-config", daemon=True)
        self.remote_config_thread = thread
        thread.start()

    def refresh_remote_config_before_send(self) -> None:
        """The sender's ``before_send``: it is about to connect, so fetch a due config first.

        In the sending thread, synchronously, once per process (not if the start-up fetch
        ran or runs): an app that exits before ``remote_config_delay_s`` still fetches when it
        sends, e.g. a crash delivered by the exit flush (so it runs while the client closes,
        unlike the start-up fetch). Bounded like the send: by the transport's timeouts, and the
        flush never waits for it beyond its own bound. The config applies to what is captured
        afterwards; items already sealed go as they are.
        """
        if self._remote_fetch_claimed:
            return
        with suppress_internal_errors("remote_config"):
            if not self._remote_config_allowed() or not self._remote_config_due():
                return
            if not self._claim_remote_fetch():
                return
        self._fetch_remote_config()

    def _remote_config_allowed(self) -> bool:
        """A project, a pinned signing key and consent: otherwise never fetched."""
        return bool(self.project) and self.options.dsn_part("signing_key") is not None \
            and self.consent.level() != OFF

    def _claim_remote_fetch(self) -> bool:
        """True for the first caller in this process: the one that fetches."""
        with self._remote_fetch_lock:
            if self._remote_fetch_claimed:
                return False
            self._remote_fetch_claimed = True
            return True

    def _fetch_remote_config(self) -> None:
        """Fetch, verify, cache, record the check and apply the config (never raises)."""
        with suppress_internal_errors("remote_config"):
            from crashveil.sdk.remote_config import refresh

            transport = self.transport()
            if transport is None:
                return
            # The attempt is recorded before it starts: a fetch that never returns (a hanging
            # endpoint, the process exiting meanwhile) is not retried before every send of
            # every later run, which would keep a short-lived app's reports from ever leaving.
            self._remote_config_checked(self.now() + self.remote_config_refresh_s)
            dsn, project = self.options.dsn, self.project
            if dsn is None or project is None:  # a custom transport without a DSN: nothing to verify with
                raise ValueError("a remote config needs the DSN's signing key")
            config = refresh(transport, self.data_dir / "remote_config.json", dsn.signing_key,
                             project=project, now=self.now())
            self._remote_config_checked(config.expires_at)
            with self._lock:
                self._remote = config
            self._apply_remote(config)
            self._breadcrumbs_changed()

    def _remote_config_due(self) -> bool:
        """Whether the last check is older than the refresh interval (or its config expired).

        Reads a few bytes with ``os`` only: deciding costs no import and no signature check.
        A missing, torn or future-dated record makes it due.
        """
        try:
            fd = os.open(self.data_dir / _REMOTE_CHECKED_NAME, os.O_RDONLY)
            try:
                raw = os.read(fd, 128)
            finally:
                os.close(fd)
            checked_at, expires_at = (float(part) for part in raw.split())
        except (OSError, ValueError):
            return True
        now = self.now()
        return not 0.0 <= now - checked_at < self.remote_config_refresh_s or not now < expires_at

    def _remote_config_checked(self, expires_at: float) -> None:
        """Record that the config was just checked (``expires_at``: that of the config in force)."""
        record = f"{float(self.now())!r} {float(expires_at)!r}\n"
        write_private_file(self.data_dir / _REMOTE_CHECKED_NAME, record.encode("ascii"))

    def _apply_remote(self, config: Any) -> None:
        limiter = self.limiter()
        if limiter is not None and config is not None:
            limiter.set_remote_sample_rate(config.sample_rate_for(self.options.release, self.options.cohort))


def data_dir_is_empty(path: Path) -> bool:
    """True when ``path`` does not exist or holds nothing (the consent-off promise)."""
    return not path.exists() or not any(path.iterdir())
