"""Erasure requests (GDPR Art. 17), sent by the SDK when a user revokes consent.

:meth:`Storage.process_deletion_request` deletes every report of the given install
pseudonyms, in every period, and rebuilds the install sketches of the (group, day) pairs they
were in (so the dashboard stops counting those installations) and takes the reports out of
their groups' counts and triage state (``storage.erasure_groups``), in one transaction; this
module adds the audit entry. The entry
and the ``deletion_requests`` row hold the request id and counts, never the pseudonyms, so
the proof that a request was honoured does not keep what it erased, and the audit chain
never has to change. The ingest side answers with the signed confirmation (the project's
config signing key) and processes requests synchronously: a request is done, or refused
with a retry code, within one HTTP request (bounded well under Art. 12(3)'s month). The
confirmation carries no count (the same answer whether there were reports or not: nothing
proves that the request comes from the installation); the count is in the audit entry.

The erasure is final: it leaves content-free tombstones (``crashveil.server.governance.tombstones``)
that refuse the erased installation's earlier reports, replays included, until the replay
window has passed over them.

Copies taken earlier: the reports' details stay encrypted under their day keys, which
retention destroys at the end of their period and puts beyond use in backups through the
KEK rotation (see ``retention.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from crashveil.server.governance.audit import AuditTrail

if TYPE_CHECKING:
    from crashveil.server.storage.records import DeletionRecord
    from crashveil.server.storage.store import Storage

__all__ = ["ERASURE", "erase_installs"]

#: The audit action of an erasure request (an SDK's revoke).
ERASURE = "erasure"


def erase_installs(storage: Storage, audit: AuditTrail, project_id: str, request_id: str,
                   install_ids: Sequence[str], *, now: datetime, actor: str = "sdk", action: str | None = None,
                   detail: Mapping[str, str | int] | None = None) -> DeletionRecord:
    """Delete every report of ``install_ids`` in ``project_id`` and audit it; returns the
    storage's :class:`~crashveil.server.storage.records.DeletionRecord`.

    ``action`` (default ``erasure``) and ``detail`` (added to the counts): an erasure by
    installation code (``erasure_by_code/erase.py``) is audited as ``erasure.by_code`` with its
    stated reason.
    """
    record = storage.process_deletion_request(project_id, request_id, install_ids, now=now)
    audit.record(ERASURE if action is None else action, actor=actor, project_id=project_id,
                 subject=f"erasure:{request_id}"[:256],
                 detail={**(detail or {}), "installs": len(set(install_ids)), "reports_deleted": record.deleted_count})
    return record
