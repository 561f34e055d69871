"""The storage's records: rows a report is written as, results of writes, and what reads
return. Plain frozen dataclasses, built in any thread or process (a :class:`StoreRow` is
pickled to the writer process), plus the UTC hour and day strings every row carries.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crashveil.policy import Policy, policy_digest
from crashveil.server.linkability.ladder import QuasiClasses
from crashveil.wire import Report

if TYPE_CHECKING:
    from crashveil.server.keys.crypto import ProjectKeyPair, SigningKey

__all__ = [
    "DROPPED_DETECTOR",
    "ORIGINS",
    "REFUSED",
    "DeletionRecord",
    "GroupRecord",
    "PendingReport",
    "ProjectRecord",
    "ProjectSummary",
    "ReceiptStatus",
    "StoreResult",
    "StoreRow",
    "StoredDetail",
    "day_of",
    "hour_and_day",
    "hour_of",
    "utcnow",
]

ORIGINS = ("crashveil-sdk", "sentry-sdk")
#: Detector name under which unknown fields dropped at parsing are counted.
DROPPED_DETECTOR = "_dropped"


def utcnow() -> datetime:
    return datetime.now(UTC)


def hour_of(moment: datetime) -> str:
    """``2026-05-01T13:00Z``, the wire format's hour."""
    return hour_and_day(moment)[0]


def day_of(moment: datetime) -> str:
    return hour_and_day(moment)[1]


def hour_and_day(moment: datetime) -> tuple[str, str]:
    """(hour, day) of ``moment`` in UTC; ``strftime`` costs a few us, so by hour, memoised."""
    utc = moment.astimezone(UTC)
    return _hour_strings(utc.year, utc.month, utc.day, utc.hour)


@functools.lru_cache(maxsize=256)
def _hour_strings(year: int, month: int, day: int, hour: int) -> tuple[str, str]:
    moment = datetime(year, month, day, hour)
    return moment.strftime("%Y-%m-%dT%H:00Z"), moment.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class StoreResult:
    """The outcome of :meth:`Storage.store_report`."""

    receipt: str
    created: bool
    group_id: int
    counts_only: bool
    #: Not stored: an erasure's tombstone refuses it (``crashveil.server.governance.tombstones``).
    refused: bool = False


#: The result of a report the tombstones refuse: no receipt, no group.
REFUSED = StoreResult("", False, 0, False, True)


@dataclass(frozen=True)
class PendingReport:
    """A validated, redacted report waiting to be stored (see :meth:`Storage.store_reports`)."""

    project_id: str
    report: Report
    origin: str
    received_at: datetime
    redaction_hits: Mapping[tuple[str, str], int]
    dropped_fields: Sequence[str] = ()
    #: Who sent it (``credential_weight.credential_id``), ``None``: no credential.
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class StoreRow:
    """A report as its write transaction needs it: all that no database state decides.

    :meth:`Storage.row` builds it from a :class:`PendingReport` in any thread or process, so
    the writer (one per database: the lock holder) spends its time on SQL, and it is small
    and plain enough to pickle to a writer process. ``sealed`` is ``(data key id, BLAKE2b of
    the data key, encrypted detail)`` when the day's data key was known; the writer stores
    that blob only if the key it reads in its transaction is that key, else it seals
    ``plaintext`` again.
    """

    project_id: str
    origin: str
    received_at: datetime
    report_id: str
    crash_type: str
    release: str | None
    os_family: str | None
    occurred_hour: str | None
    level: str
    install_id: str | None
    policy_digest: str
    fingerprint: str
    received_hour: str
    day: str
    plaintext: bytes
    sealed: tuple[str, bytes, bytes] | None
    redaction_hits: tuple[tuple[tuple[str, str], int], ...]
    dropped_fields: tuple[str, ...]
    credential: str | None = None
    #: The triage list's title parts and facets (``ingest.titles``; ``db.triage_tables``).
    culprit: str | None = None
    modules: str | None = None
    title_message: str | None = None
    deployment: str | None = None
    platform: str | None = None
    #: The group page's parts (``ingest.titles``; migration 0016): stack signature, source
    #: lines (JSON) and runtime (``python_impl python_version``).
    signature: str | None = None
    source_lines: str | None = None
    runtime: str | None = None
    #: The report's quasi-identifier combination at each rung (``linkability.ladder``): the
    #: writer picks the rung it is stored at (``linkability.counting``); never stored as such.
    quasi: QuasiClasses | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as the field values (~3x faster than a slots dataclass's default)."""
        return (StoreRow, tuple(getattr(self, name) for name in _ROW_FIELDS))


@dataclass(frozen=True)
class ReceiptStatus:
    """What the public receipt endpoint may say about one report (no content)."""

    receipt: str
    status: str  # received | grouped | fixed
    fixed_in: str | None
    received_hour: str


@dataclass(frozen=True)
class DeletionRecord:
    """The confirmation of an erasure request, signed by the ingest side."""

    request_id: str
    project_id: str
    deleted_count: int
    processed_at: datetime


@dataclass(frozen=True)
class ProjectRecord:
    """A project as ingestion needs it; cached by :meth:`Storage.project`."""

    id: str
    policy: Policy
    policies: dict[str, Policy]
    keypairs: list[ProjectKeyPair]
    signing_key: SigningKey
    signing_keys: list[SigningKey]
    public_summary: bool
    created_at: datetime
    #: Fields the ``field_stops`` table stops for this project when it was loaded
    #: (``governance/lifecycle/field_stops.py``; a new stop bumps the projects cache version).
    field_stops: frozenset[str] = frozenset()

    @functools.cached_property
    def digest(self) -> str:
        """The current policy's digest (computed once: hashing a policy takes ~5 ms)."""
        return policy_digest(self.policy)


@dataclass(frozen=True)
class ProjectSummary:
    id: str
    created_at: datetime
    policy_version: str
    policy_digest: str
    public_summary: bool
    groups: int


@dataclass(frozen=True)
class GroupRecord:
    id: int
    project_id: str
    fingerprint: str
    crash_type: str
    status: str
    first_seen: datetime
    last_seen: datetime
    first_release: str | None
    last_release: str | None
    resolved_in: str | None
    regressed_in: str | None
    total_count: int


@dataclass(frozen=True)
class StoredDetail:
    """A decrypted report: the report as stored, and what the server noted at ingestion."""

    report: Report
    dropped_fields: tuple[str, ...] = ()
    client_fingerprint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)



_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(StoreRow))
