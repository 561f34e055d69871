"""Erasure by installation code: for a person who uninstalled the app, or who writes to support.

The SDK shows its user an installation code (``crashveil.installation_code()``), the erasure
key its pseudonyms are derived from (``crashveil.wire.install_code``). Given the code, this
module recomputes the install's pseudonym of every rotation period whose reports may still be
kept, and erases them through the same path as an SDK's ``revoke()``
(:func:`~crashveil.server.governance.erasure.erase_installs`: reports, group counts and
sketches, tombstones, the ``deletion_requests`` row), audited as ``erasure.by_code`` with the
officer's reason and counts. The answer is a signed confirmation to hand to the person
(``confirmation.py``); it is the same whether reports existed or not.

Which periods: from the older of (now - the longest retention of any of the project's
policies) and the project's oldest stored report, less the queue's longest wait and one period
of clock skew, to one period past now; for every rotation length any of its policies set (a
policy change may have changed it). The code itself is never stored or logged: the audit entry
and the ``deletion_requests`` row hold a fresh request id and counts, the tombstones keyed
digests of the pseudonyms (as for a revoke), the confirmation a digest of the code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from crashveil.errors import BadApiInput, NotFound
from crashveil.server.db.tables import reports
from crashveil.server.governance.erasure import erase_installs
from crashveil.server.governance.erasure_by_code.confirmation import confirmation_document
from crashveil.wire.install_code import code_digest, parse_code, period_index, pseudonym_v2

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.server.storage.store import Storage

__all__ = ["ACTION", "MAX_REASON", "MIN_REASON", "ErasureByCode", "check_reason", "erase_by_code",
           "pseudonyms_in_retention"]

ACTION = "erasure.by_code"
MIN_REASON = 10
MAX_REASON = 300


@dataclass(frozen=True)
class ErasureByCode:
    """A processed erasure by code: the document for the person, and the counts for the officer's
    audit entry (not shown with the document: it says nothing about whether reports existed)."""

    document: dict[str, str]
    request_id: str
    periods: int


def check_reason(reason: object) -> str:
    """The officer's stated reason, on one line; :class:`BadApiInput` naming the bounds otherwise.
    It goes to the audit trail: it should name a ticket, not the person."""
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not MIN_REASON <= len(text) <= MAX_REASON or not text.isprintable():
        raise BadApiInput("reason", f"{MIN_REASON} to {MAX_REASON} printable characters (a ticket, not the person)")
    return text


def _oldest_report_day(storage: Storage, project_id: str) -> date | None:
    with storage.engine.connect() as conn:
        day = conn.execute(sa.select(sa.func.min(reports.c.day)).where(reports.c.project_id == project_id)).scalar()
    return date.fromisoformat(day) if isinstance(day, str) else None


def pseudonyms_in_retention(key: bytes, project: ProjectRecord, *, now: datetime, oldest_day: date | None) -> list[str]:
    """The install's pseudonyms (scheme v2) of every period whose reports may still be kept, newest first."""
    policies = [project.policy, *project.policies.values()]
    longest = max((rule.retention_days for policy in policies for rule in policy.fields.values()), default=0)
    start = now - timedelta(days=longest)
    if oldest_day is not None:
        start = min(start, datetime.combine(oldest_day, time(), UTC))
    start -= timedelta(days=max(policy.limits.queue_max_age_days for policy in policies))
    names: list[str] = []
    for rotation in sorted({policy.keys.pseudonym_rotation_days for policy in policies}):
        first = period_index(start.timestamp(), rotation) - 1
        last = period_index(now.timestamp(), rotation) + 1
        names += [pseudonym_v2(key, project.id, period) for period in range(last, first - 1, -1)]
    return list(dict.fromkeys(names))


def erase_by_code(storage: Storage, audit: AuditTrail, project_id: str, code: str, *, reason: str, actor: str,
                  now: datetime) -> ErasureByCode:
    """Erase every kept report of the installation whose code is ``code`` in ``project_id``.

    Raises:
        InstallationCodeError: the code cannot be read (length, a character, the check character).
        BadApiInput: the reason is missing or out of bounds.
        NotFound: no project ``project_id``.
    """
    key = parse_code(code)
    stated = check_reason(reason)
    project = storage.project(project_id, fresh=True)
    if project is None:
        raise NotFound(f"no project {project_id!r}")
    names = pseudonyms_in_retention(key, project, now=now, oldest_day=_oldest_report_day(storage, project_id))
    request_id = str(uuid.uuid4())
    record = erase_installs(storage, audit, project.id, request_id, names, now=now, actor=actor, action=ACTION,
                            detail={"reason": stated, "periods": len(names)})
    document = confirmation_document(record.request_id, record.project_id, record.processed_at,
                                     sign=project.signing_key.sign,
                                     signing_key=project.signing_key.public_key_string(),
                                     installation=code_digest(key))
    return ErasureByCode(document, record.request_id, len(names))
