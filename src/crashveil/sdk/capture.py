"""One crash's way from a record to the queue: disclosure, limits, build, seal, queue, wake.

The order is the design's (DESIGN.md section 2). The client has read the consent level and
collected the record (allowlist at that level, redacted while built). Here: a richer level
for this crash only if the user agrees (progressive disclosure), the remote config's
counts-only list, the sampling and rate limits (``delivery/limits.py``), the report built
without stopped fields (the policy's expired ones and the remote config's ``stopped_fields``)
with this install's pseudonym and the loss counters, sealed to the project's public key (or to the
device key while the user reviews each crash: ``consent/pending.py``) and written to the on-disk
queue *before* the capture returns: a process that dies right after still has its crash on
disk. The network is the sender thread's business.

Loaded at the first capture. The client passes itself in as a :class:`CaptureHost` (what the
pipeline reads of it, by name, at each use): nothing here imports the client.
"""

from __future__ import annotations

from dataclasses import replace

from crashveil.sdk import _internal
from crashveil.sdk._internal import suppress_internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from crashveil.sdk.collect import CrashRecord
    from crashveil.sdk.consent.pending import PendingCrashes, PendingHost
    from crashveil.sdk.consent.pseudonym import InstallSecret
    from crashveil.sdk.delivery.limits import Limiter
    from crashveil.sdk.options import Options
    from crashveil.sdk.remote.config import RemoteConfig
    from crashveil.wire.report import Report

    class CaptureHost(PendingHost, Protocol):
        """What the capture pipeline uses of the client: what a kept crash uses, and more."""

        options: Options
        secret: InstallSecret
        project: str | None
        now: Callable[[], float]
        observers: list[Callable[[Report], None]]

        @property
        def pending_crashes(self) -> PendingCrashes: ...
        def remote_config(self) -> RemoteConfig | None: ...
        def limiter(self) -> Limiter: ...

__all__ = ["Capture"]


class Capture:
    """The capture pipeline of one client."""

    def __init__(self, host: CaptureHost) -> None:
        self.host = host

    def process(self, record: CrashRecord, level: str) -> str | None:
        """Limits, build, seal, queue (synchronously), then wake the sender; the report id or None."""
        host = self.host
        level = self._disclose(record, level)
        remote = host.remote_config()
        if remote is not None and remote.counts_only(record.fingerprint):
            _internal.count_dropped("counts_only")
            return None
        limiter = host.limiter()
        if limiter is not None:
            decision = limiter.decide(record.fingerprint)
            if decision != "send":
                return None
        report = self.build(record, level)
        for observer in list(host.observers):
            observer(report)
        payload = report.to_json()
        pending = host.consent.ask_each_time()
        sealed = host.pending_crashes.seal(payload) if pending else host.seal_for_server(payload)
        if sealed is None:
            return None
        from crashveil.sdk.delivery.queue import QueueMeta

        kind = "pending" if pending else "report"
        meta = QueueMeta(kind=kind, crash_type=report.crash_type, level=level, created=record.occurred_s)
        # The queue file first (the crash is on disk before anything else), then the history
        # line: killed in between, the sender records the line from the item's queue meta
        # when it delivers it (the client's ``_on_sent``).
        item_id = host.queue(create=True).put(sealed, meta)
        if not item_id:
            return None
        self._stats_reported(report)
        host.history_log.record(item_id, kind=kind, crash_type=report.crash_type, level=level,
                                state="pending" if pending else "queued", content=payload.decode())
        if not pending:
            host.wake_sender()
        return report.report_id

    def build(self, record: CrashRecord, level: str, *, persist: bool = True, comment: str | None = None) -> Report:
        """The report for ``record`` at ``level``; ``persist=False`` for a preview (no new secret, no counts)."""
        host = self.host
        if record.breadcrumbs:
            remote = host.remote_config()
            if remote is not None and not remote.module_enabled("breadcrumbs"):
                record = replace(record, breadcrumbs=())
        policy = host.policy
        install_id = None
        if host.project and policy.allows(level, "install_id"):
            install_id = host.secret.pseudonym(host.project, host.now(), policy.keys.pseudonym_rotation_days,
                                               persist=persist)
        allowed = host.consent.allowed_fields(level)
        stopped = self._stopped_fields()
        if stopped:
            allowed = tuple(name for name in allowed if name not in stopped)
        return host.collector.build(record, level, install_id=install_id,
                                    client_stats=self._stats() if persist else None, comment=comment,
                                    allowed_fields=allowed)

    def _stopped_fields(self) -> frozenset[str]:
        """Fields no report may carry now: expired in the policy (``policy/expiry.py``, at this
        app's release and today's UTC date) or stopped by the server's signed config."""
        from datetime import UTC, datetime

        from crashveil.policy.expiry import expired_fields

        host = self.host
        today = datetime.fromtimestamp(host.now(), UTC).date()
        stopped = expired_fields(host.policy, today=today, release=host.options.release)
        remote = host.remote_config()
        return stopped | remote.stopped_fields if remote is not None else stopped

    def _stats(self) -> dict[str, int]:
        """The loss counters to send with a report: SDK guard, limiter and queue drops."""
        stats: dict[str, int] = {}
        sources = [_internal.dropped_counts(), dict(self.host.limiter().counts())]
        queue = self.host.queue(create=False)
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
        self.host.limiter().take_counts()
        queue = self.host.queue(create=False)
        if queue is not None:
            queue.take_dropped()
        _internal.reset_dropped()

    def _disclose(self, record: CrashRecord, level: str) -> str:
        """Progressive disclosure: a richer level for this crash only if the user agrees."""
        host = self.host
        policy = host.policy
        granted = host.consent.disclosure(record.fingerprint)
        if granted is not None and policy.rank(granted) > policy.rank(level):
            return granted
        callback = host.options.consent_callback
        remote = host.remote_config()
        if callback is None or remote is None or host.consent.needs_prompt():
            return level
        requested = remote.requested_level(record.fingerprint)
        if requested not in policy.level_names or policy.rank(requested) <= policy.rank(level):
            return level
        preview = self.build(record, requested, persist=False)
        added = tuple(name for name in policy.fields_at(requested) if name not in policy.fields_at(level))
        from crashveil.sdk._records import DisclosureRequest

        request = DisclosureRequest(fingerprint=record.fingerprint, crash_type=record.crash_type,
                                    current_level=level, requested_level=requested, added_fields=added,
                                    preview=preview)
        answer = False
        with suppress_internal_errors("consent_callback"):
            answer = callback(request) is True
        if answer:
            host.consent.grant_disclosure(record.fingerprint, requested)
            return requested
        return level
