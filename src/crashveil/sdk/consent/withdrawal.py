"""What withdrawing consent undoes on the device, and the deletion request it leaves to send.

``grant("off")`` drops what is queued but not yet sent (:func:`drop_unsent`). ``revoke()``
goes further (:func:`erase_local_data`): it deletes the queue, the install secret, the other
secrets, the native-fault files and the limiter state, and queues one sealed deletion
request naming the install's pseudonyms within the policy's longest retention, so the server
erases what it holds. The request is kept until the server acknowledges it.

Loaded by those two calls only. The client passes itself in as a :class:`WithdrawalHost`:
nothing here imports the client.
"""

from __future__ import annotations

from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.store import OFF

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from crashveil.sdk.consent.pending import PendingHost
    from crashveil.sdk.consent.pseudonym import InstallSecret

    class WithdrawalHost(PendingHost, Protocol):
        """What withdrawing consent uses of the client: what a kept crash uses, and the secret."""

        secret: InstallSecret
        project: str | None
        now: Callable[[], float]

__all__ = ["drop_unsent", "erase_local_data", "queue_deletion"]


def drop_unsent(host: PendingHost) -> None:
    """Remove every queued item but deletion requests and the user's own feedback (sent at any
    level, ``sdk/consent/feedback.py``); their history lines say ``discarded``."""
    queue = host.queue(create=False)
    if queue is None:
        return
    for item in queue.items():
        if item.meta.kind not in ("deletion", "feedback"):
            queue.remove(item.id)
            host.history_log.update(item.id, state="discarded")


def erase_local_data(host: WithdrawalHost) -> list[str]:
    """Delete the queue, secrets, native-fault files and limiter state; the pseudonyms to erase.

    The pseudonyms (newest first) are computed before the secret is destroyed; the caller
    records consent ``off`` and then calls :func:`queue_deletion` with them.
    """
    import shutil

    pseudonyms: list[str] = []
    policy = host.policy
    if host.project:
        lookback = max((rule.retention_days for rule in policy.fields.values()), default=0)
        pseudonyms = host.secret.pseudonyms_since(host.project, host.now(), policy.keys.pseudonym_rotation_days,
                                                  lookback)
    queue = host.queue(create=False)
    if queue is not None:
        queue.clear()
    host.secret.destroy()
    shutil.rmtree(host.data_dir / "secrets", ignore_errors=True)
    shutil.rmtree(host.data_dir / "native", ignore_errors=True)
    for name in ("limits.json",):
        with suppress_internal_errors("revoke"):
            (host.data_dir / name).unlink(missing_ok=True)
    return pseudonyms


def queue_deletion(host: WithdrawalHost, pseudonyms: list[str]) -> None:
    """Seal and queue the request to erase ``pseudonyms``' reports, then wake the sender."""
    from crashveil.wire.canonical import canonical_json
    from crashveil.wire.protocol import MAX_DELETION_IDS

    # The server's contract (wire/protocol.py): a fresh request id and the install ids,
    # newest first. The id is sealed with the request, so retries carry the same one.
    payload = canonical_json({"request_id": host.collector.new_report_id(),
                              "install_ids": pseudonyms[:MAX_DELETION_IDS]})
    sealed = host.seal_for_server(payload)
    if sealed is None:
        return
    from crashveil.sdk.delivery.queue import QueueMeta

    item_id = host.queue(create=True).put(sealed, QueueMeta(kind="deletion", crash_type="", level=OFF,
                                                            created=host.now()))
    host.history_log.record(item_id, kind="deletion", crash_type="", level=OFF, state="queued")
    host.wake_sender()
