"""The client: one app's SDK state, and the calls of the ``crashveil`` facade.

One ``Client`` per process, created by ``crashveil.init()``; before that (and after
``shutdown()``) a ``NullClient`` (``null_client.py``) answers every call.

The client owns the options, the consent store and the install secret, and builds its
collaborators on first need: redactor, collector, history, queue, transport, limiter, sender.
The work is in modules of their own, each given the client as a small typed host (none
imports this module): ``capture.py`` (a crash's way to the queue), ``consent/pending.py`` ("ask me
each time"), ``consent/withdrawal.py`` (what ``revoke()`` undoes), ``remote/refresh.py``
(the remote config in force, and when to fetch it), ``breadcrumbs.py`` (whether breadcrumbs
may be kept, and their ring), ``hooks.py`` (the interpreter's crash hooks),
``delivery/seal.py`` (the recipes).

Consent is read first: at level ``off`` nothing is collected, no file is written and no
socket opened. Everything reached from a hook runs inside ``suppress_internal_errors``;
only the consent calls of the facade raise, with ``ConfigError``, when asked for something
impossible.
"""

from __future__ import annotations

import os
import threading

from crashveil.errors import ConfigError
from crashveil.sdk import _internal
from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.pseudonym import InstallSecret
from crashveil.sdk.consent.store import OFF, ConsentStore

# Not ``typing.TYPE_CHECKING``: ``init()`` imports neither ``typing`` nor ``dataclasses`` (nor
# ``pathlib`` from here); together they are several milliseconds of every app's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

    from crashveil.policy.model import Policy
    from crashveil.redact import Redactor
    from crashveil.sdk._records import DisclosureRequest, PendingCrash
    from crashveil.sdk.breadcrumbs import BreadcrumbGate
    from crashveil.sdk.capture import Capture
    from crashveil.sdk.collect import Collector, CrashRecord
    from crashveil.sdk.consent.feedback import FeedbackEntry
    from crashveil.sdk.consent.history import History, HistoryEntry
    from crashveil.sdk.consent.pending import PendingCrashes
    from crashveil.sdk.delivery.limits import Limiter
    from crashveil.sdk.delivery.queue import QueueItem
    from crashveil.sdk.options import Options
    from crashveil.sdk.remote.config import RemoteConfig
    from crashveil.sdk.remote.refresh import RemoteConfigKeeper
    from crashveil.sdk.transport import SendResult
    from crashveil.wire.report import Report

__all__ = ["Client", "DisclosureRequest", "PendingCrash"]

_QUEUE_FILE_SUFFIX = ".cvq"  # crashveil.sdk.delivery.queue's item files and temp files, named here so
_QUEUE_TMP_PREFIX = ".tmp-"  # start() can look at the directory without importing the queue

def __getattr__(name: str) -> Any:
    """``DisclosureRequest`` and ``PendingCrash`` (dataclasses), loaded on first use."""
    if name in ("DisclosureRequest", "PendingCrash"):
        from crashveil.sdk import _records

        return getattr(_records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        self.consent: ConsentStore
        if options.consent_mode == "server":  # the operator's level, checked against the policy's [consent]
            from crashveil.sdk.consent.server import ServerConsent

            self.consent = ServerConsent(self.data_dir, options.policy, now=self.now, level=options.server_level)
        elif lazy:  # the shipped policy, built on first need; its facts answer init() and grant()
            from crashveil.policy.shipped import shipped_policy_facts

            self.consent = ConsentStore(self.data_dir, lambda: options.policy, now=self.now,
                                        facts=shipped_policy_facts)
        else:
            self.consent = ConsentStore(self.data_dir, options.policy, now=self.now)
        self.secret = InstallSecret(self.data_dir / "secrets" / "install.key")
        self.public_key = None
        public_key = options.dsn_part("public_key")  # not options.dsn: that dataclass can wait
        if public_key is not None:  # checked now: a bad key is a ConfigError at init()
            from crashveil.wire.keyfmt import ProjectPublicKey

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
        self._limiter: Limiter | None = None
        self._remote: RemoteConfigKeeper | None = None
        self._capture: Capture | None = None
        self._pending: PendingCrashes | None = None
        self._stopping = threading.Event()  # set by close(): a config fetch not yet started is skipped
        self._closed = False
        self.hooks: Any = None
        self._crumbs: BreadcrumbGate | None = None  # made on the first breadcrumb: ``crumbs``

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
                from crashveil.sdk.consent.history import History

                self._history = History(self.data_dir, keep_content=self.options.keep_history_content,
                                        now=self.now)
            return self._history

    @property
    def capture(self) -> Capture:
        """The capture pipeline (``capture.py``)."""
        with self._lock:
            if self._capture is None:
                from crashveil.sdk.capture import Capture

                self._capture = Capture(self)
            return self._capture

    @property
    def pending_crashes(self) -> PendingCrashes:
        """The crashes kept for the user's review (``consent/pending.py``)."""
        with self._lock:
            if self._pending is None:
                from crashveil.sdk.consent.pending import PendingCrashes

                self._pending = PendingCrashes(self)
            return self._pending

    @property
    def crumbs(self) -> BreadcrumbGate:
        """Whether breadcrumbs may be kept, and their in-memory ring (``breadcrumbs.py``)."""
        crumbs = self._crumbs
        if crumbs is None:
            with self._lock:
                if self._crumbs is None:
                    from crashveil.sdk.breadcrumbs import BreadcrumbGate

                    self._crumbs = BreadcrumbGate(self)
                crumbs = self._crumbs
        return crumbs

    @property
    def remote(self) -> RemoteConfigKeeper:
        """The remote config in force and its refresh schedule (``remote/refresh.py``)."""
        with self._lock:
            if self._remote is None:
                from crashveil.sdk.remote.refresh import RemoteConfigKeeper

                self._remote = RemoteConfigKeeper(self.options, project=self.project, now=self.now,
                                                  level=self.consent.level, transport=self.transport,
                                                  apply=self._apply_remote, on_fetched=self._breadcrumbs_changed,
                                                  stopping=self._stopping, lock=self._lock)
            return self._remote

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Deliver what the last run left (reports, deletion requests, native faults)."""
        with suppress_internal_errors("start"):
            queue = self.queue(create=False) if self._queue_has_files() else None
            if queue is not None and self.consent.level() == OFF:
                for item in queue.items():  # consent withdrawn: only deletion requests (and the
                    if item.meta.kind not in ("deletion", "feedback"):  # user's own feedback) may go
                        queue.remove(item.id)
            if queue is not None and any(item.meta.kind in ("report", "deletion", "adoption", "feedback")
                                         for item in queue.items()):
                self.wake_sender()
            self.refresh_remote_config()
            self.send_adoption_ping()
            if os.path.exists(self.data_dir / "feedback.json"):  # sdk/consent/feedback.py FILE: replies due?
                self.check_feedback_replies(background=True)

    def send_adoption_ping(self) -> None:
        """Today's adoption ping, on a daemon thread, if the app turned it on (``adoption_ping``), and
        it is due and allowed (``adoption.py`` says when)."""
        release = self.options.release
        if (self.options.adoption_ping and release and self.project and self.public_key is not None
                and self.consent.level() != OFF):
            from crashveil.sdk.adoption import start_ping

            start_ping(self, release)

    # -- privacy feedback (``consent/feedback.py``) ------------------------------------------------
    def send_privacy_feedback(self, topic: str, text: str, *, link_reports: bool = False) -> str | None:
        """Redact, seal and queue the user's feedback, at any consent level; its id (None without a DSN)."""
        from crashveil.sdk.consent.feedback import send_feedback

        return send_feedback(self, topic, text, link_reports=link_reports)

    def privacy_feedback(self) -> list[FeedbackEntry]:
        """The user's feedback with its status and replies, from the local record only."""
        from crashveil.sdk.consent.feedback import FeedbackLog

        return FeedbackLog(self.data_dir).entries()

    def check_feedback_replies(self, *, background: bool = False, force: bool = False) -> int:
        """Fetch replies to waiting feedback if due (on a daemon thread with ``background``); the
        number of items newly answered (0 in the background)."""
        transport = self.transport()
        if transport is None or self.project is None:
            return 0
        from crashveil.sdk.consent import feedback

        if background:
            feedback.start_reply_check(self, transport.fetch_feedback_replies)
            return 0
        return feedback.fetch_replies(self, transport.fetch_feedback_replies, force=force)

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
                from crashveil.sdk.integrations import teardown as teardown_integrations

                teardown_integrations()  # first: an integration may wrap our excepthook (Qt)
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
                          tb: TracebackType | None = None,
                          context: tuple[tuple[str, str | int], ...] = ()) -> str | None:
        """Report ``exc`` if the user consented; returns the report id, or None.

        ``context``: what an integration knows of the crash (``CrashRecord.context``).
        Never raises: a failure inside the SDK is swallowed, counted and logged at debug.
        """
        if _internal.in_sdk():
            return None
        with suppress_internal_errors("capture"):
            level = self.consent.level()
            if level == OFF or not isinstance(exc, BaseException):
                return None
            record = self._with_breadcrumbs(self.collector.record(exc, mechanism=mechanism, tb=tb, context=context))
            return self.capture.process(record, level)
        return None

    def report_native(self, signal: tuple[str, int], frames: list[tuple[str, str, int]], *,
                      occurred_s: float) -> bool:
        """Report a native fault left by an earlier run (``hooks.py`` parsed its file); True if queued."""
        record = self.collector.record_native(signal, frames, occurred_s=occurred_s)
        return bool(self.capture.process(record, self.level()))

    # -- breadcrumbs ---------------------------------------------------------------------
    def add_breadcrumb(self, message: str, category: str = "default") -> None:
        """Remember a step the app took, in memory only, if the user's level allows breadcrumbs.

        A no-op (one check) without that consent or when the remote config turned the module
        off. Never raises.
        """
        if self.breadcrumbs_muted():
            return
        with suppress_internal_errors("breadcrumb"):
            self.crumbs.add(message, category)

    def breadcrumbs_muted(self) -> bool:
        """True when breadcrumbs are known to be off (one check: the hooks' fast path)."""
        crumbs = self._crumbs
        return crumbs is not None and crumbs.on is False

    def _breadcrumbs_changed(self) -> None:
        """Consent or remote config changed: decide again (``BreadcrumbGate.changed``)."""
        crumbs = self._crumbs
        if crumbs is not None:
            crumbs.changed()

    def _with_breadcrumbs(self, record: CrashRecord) -> CrashRecord:
        """``record`` carrying the crumbs held in memory, if they may be kept."""
        crumbs = self._crumbs
        return record if crumbs is None else crumbs.attach(record)

    # -- sealing and "ask me each time" ---------------------------------------------------
    def seal_for_server(self, payload: bytes) -> bytes | None:
        """``payload`` sealed to the project's public key; None (counted) without a DSN."""
        if self.public_key is None or self.project is None:
            _internal.count_dropped("no_dsn")
            return None
        from crashveil.sdk.delivery.seal import seal_report
        from crashveil.wire.report import SCHEMA_VERSION

        return seal_report(payload, self.public_key, project_id=self.project, schema_version=SCHEMA_VERSION)

    def pending(self) -> list[PendingCrash]:
        """Crashes waiting for the user's decision, oldest first."""
        return self.pending_crashes.list()

    def decide(self, item_id: str, level: str | None, comment: str | None = None) -> str | None:
        """Send a pending crash at ``level`` (at most the level it was kept at), or discard it (None).

        ``comment`` is the user's note, redacted and cut like every other string.
        """
        return self.pending_crashes.decide(item_id, level, comment)

    # -- consent -------------------------------------------------------------------------
    def level(self) -> str:
        return self.consent.level()

    def needs_prompt(self) -> bool:
        return self.consent.needs_prompt()

    def grant(self, level: str, *, ask_each_time: bool | None = None) -> None:
        """Record the user's choice. Choosing ``off`` drops what is queued but not yet sent."""
        if level == OFF and self.consent.level() != OFF:
            from crashveil.sdk.consent.withdrawal import drop_unsent

            drop_unsent(self)
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

        options = self.options
        self.hooks = Hooks(self, data_dir=self.data_dir, logging_integration=options.logging_integration,
                           logging_breadcrumbs=options.logging_breadcrumbs)
        self.hooks.install()
        from crashveil.sdk.integrations import setup_integrations  # light: reads sys.modules only

        setup_integrations(options.integrations, auto=options.auto_integrations)

    def revoke(self) -> None:
        """Delete the queue and secrets; queue a deletion request until the server acknowledges it."""
        from crashveil.sdk.consent.withdrawal import erase_local_data, queue_deletion

        pseudonyms = erase_local_data(self)
        self.consent.grant(OFF)
        self.crumbs.turn_off()
        self.after_grant()
        if pseudonyms:
            queue_deletion(self, pseudonyms)

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

    def installation_code(self) -> str | None:
        """The code a privacy officer erases this installation's reports by (``InstallSecret``)."""
        return self.secret.installation_code()

    # -- collaborators, created on first need ----------------------------------------------
    def queue(self, *, create: bool) -> Any:
        """The sealed queue; with ``create=False`` None unless its directory already exists."""
        with self._lock:
            if self._queue is None:
                directory = self.data_dir / "queue"
                if not create and not directory.is_dir():
                    return None
                from crashveil.sdk.delivery.queue import SealedQueue

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
                    from crashveil.sdk.delivery.sender import Sender

                    self._sender = Sender(queue, transport, on_sent=self._on_sent,
                                          before_send=self.remote.before_send)
            self._sender.wake()

    def _on_sent(self, item: QueueItem, result: SendResult) -> None:
        """The sender finished ``item`` (it is still queued): settle its history line.

        An item with no line yet (killed between its queue file and its line, or delivered
        before the capture wrote the line) is recorded from its queue meta.
        """
        with suppress_internal_errors("history"):
            if item.meta.kind == "feedback":  # the feedback record, not the crash history
                from crashveil.sdk.consent.feedback import FeedbackLog

                FeedbackLog(self.data_dir).settle(item.id, "sent" if 200 <= result.status < 300 else "rejected")
                return
            self.history_log.settle_sent(item, result)

    def limiter(self) -> Any:
        with self._lock:
            if self._limiter is None:
                from crashveil.sdk.delivery.limits import Limiter

                self._limiter = Limiter(self.policy, release=self.options.release, cohort=self.options.cohort,
                                        state_path=self.data_dir / "limits.json", now=self.now,
                                        rng=self.options.rng)
            return self._limiter

    def remote_config(self) -> RemoteConfig | None:
        """The verified remote config (cached on disk), or None without a DSN or consent."""
        return self.remote.current()

    def refresh_remote_config(self) -> None:
        """Fetch the signed config on a daemon thread if due (``RemoteConfigKeeper.refresh``).

        Checked here first, so a start without consent or a signing key loads nothing more.
        """
        if self.project and self.options.dsn_part("signing_key") is not None and self.consent.level() != OFF:
            self.remote.refresh()

    def _apply_remote(self, config: RemoteConfig) -> None:
        """A config loaded or fetched: its sample rate (for this release and cohort) goes to the limiter."""
        self.limiter().set_remote_sample_rate(config.sample_rate_for(self.options.release, self.options.cohort))
