""""Ask me each time": crashes kept on the device, sealed to a device key, until the user decides.

With ``ask_each_time`` the capture seals a report with :meth:`PendingCrashes.seal` (AES-256-GCM
under ``<data_dir>/secrets/pending.key``) instead of to the project's key, and queues it as
kind ``pending``: the sender never sends it. At the next start the app lists them
(:meth:`PendingCrashes.list`, shown by ``crashveil.sdk.prompts``) and the user sends each one,
at most at the level it was kept at, or discards it (:meth:`PendingCrashes.decide`).

Loaded on the capture path and by the prompts only. The client passes itself in as a
:class:`PendingHost`: nothing here imports the client.
"""

from __future__ import annotations

import os
from dataclasses import replace

from crashveil.errors import ConfigError
from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.pseudonym import write_private_file
from crashveil.sdk.consent.store import OFF
from crashveil.sdk.delivery.seal import open_locally, seal_locally

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Protocol

    from crashveil.policy.model import Policy
    from crashveil.sdk._records import PendingCrash
    from crashveil.sdk.collect import Collector
    from crashveil.sdk.consent.history import History
    from crashveil.sdk.consent.store import ConsentStore

    class PendingHost(Protocol):
        """What deciding a kept crash uses of the client."""

        data_dir: Path
        consent: ConsentStore

        @property
        def policy(self) -> Policy: ...
        @property
        def collector(self) -> Collector: ...
        @property
        def history_log(self) -> History: ...
        def queue(self, *, create: bool) -> Any: ...
        def seal_for_server(self, payload: bytes) -> bytes | None: ...
        def wake_sender(self) -> None: ...

__all__ = ["PendingCrashes"]


class PendingCrashes:
    """The crashes one client keeps for the user's review."""

    def __init__(self, host: PendingHost) -> None:
        self.host = host

    def _key(self) -> bytes:
        """The device key (32 random bytes in ``secrets/pending.key``), made on first use."""
        path = self.host.data_dir / "secrets" / "pending.key"
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) != 32:
            key = os.urandom(32)
            write_private_file(path, key)
        return key

    def seal(self, payload: bytes) -> bytes:
        """``payload`` sealed to the device key: only this device can read it back."""
        return seal_locally(payload, self._key())

    def list(self) -> list[PendingCrash]:
        """Crashes waiting for the user's decision, oldest first."""
        from crashveil.sdk._records import PendingCrash
        from crashveil.wire.report import report_from_json

        result: list[PendingCrash] = []
        queue = self.host.queue(create=False)
        if queue is None:
            return result
        for item in queue.items():
            if item.meta.kind != "pending":
                continue
            with suppress_internal_errors("pending_read"):
                report, _ = report_from_json(open_locally(queue.read(item), self._key()))
                result.append(PendingCrash(id=item.id, created=item.meta.created, crash_type=item.meta.crash_type,
                                           level=item.meta.level, report=report))
        return result

    def decide(self, item_id: str, level: str | None, comment: str | None = None) -> str | None:
        """Send a pending crash at ``level`` (at most the level it was kept at), or discard it.

        ``comment`` is the user's note; it is redacted and cut like every other string.
        Returns the report id sent, or None when discarded.
        """
        host = self.host
        crash = next((c for c in self.list() if c.id == item_id), None)
        if crash is None:
            raise ConfigError("item_id", "is not a pending crash", "an id from pending()")
        queue = host.queue(create=True)
        if level is None or level == OFF:
            queue.remove(item_id)
            host.history_log.update(item_id, state="discarded")
            return None
        policy = host.policy
        if level not in policy.level_names:
            raise ConfigError("level", "is not a consent level of the policy", ", ".join(policy.level_names))
        if policy.rank(level) > policy.rank(crash.level):
            level = crash.level  # never more than was granted when the crash was kept
        report = crash.report.restricted_to(host.consent.allowed_fields(level))
        report = replace(report, consent_level=level)
        if comment and policy.allows(level, "comment"):
            report = replace(report, comment=host.collector.redact_text(comment))
        payload = report.to_json()
        sealed = host.seal_for_server(payload)
        if sealed is None:
            return None
        from crashveil.sdk.delivery.queue import QueueMeta

        new_id = queue.put(sealed, QueueMeta(kind="report", crash_type=report.crash_type, level=level,
                                             created=crash.created))
        queue.remove(item_id)
        host.history_log.update(item_id, state="approved")
        host.history_log.record(new_id, kind="report", crash_type=report.crash_type, level=level, state="queued",
                                content=payload.decode(), at=crash.created)
        host.wake_sender()
        return report.report_id
