"""Ingestion: from a sealed, possibly compressed body to a committed report and a receipt.

The order is the order of cost, cheapest refusal first::

    project rate limit -> Content-Type -> Content-Length -> body, counted and decompressed
    with caps as it streams -> open (HPKE) -> wire format (LIMITS, unknown keys dropped)
    -> policy by digest -> consent level -> replay window -> pseudonym rate limit
    -> allowlist at the level (dropped fields counted) -> stopped fields dropped and counted
    (``governance/lifecycle/field_stops.py``) -> redact again (:mod:`.redaction`)
    -> store (one short transaction) -> acknowledge

Nothing is acknowledged before the report's transaction committed: a 201 means committed.
Reports are stored by group commit, many per transaction (``Storage.store_rows``), and each
request's answer waits for the commit of its batch: in one server process a writer thread
does it (:mod:`.commit`); with several, one writer process stores what every front process
prepared (:mod:`.writer`). Everything that
needs no database state (opening, parsing, redaction, fingerprint, the encrypted detail)
happens before, in the request's process, so the one writer spends its time on SQL. A
storage failure is a 503 with ``Retry-After`` (for every report of the failed batch) so
the SDK keeps the sealed report.

The client's address is never read here; ``app.py`` removes it from the ASGI scope before
any route runs, so nothing downstream can log or store it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crashveil.errors import Throttled
from crashveil.server.governance import tombstones
from crashveil.server.governance.lifecycle.field_stops import drop_stopped, report_stops, with_stop_counts
from crashveil.server.http.ratelimit import KeyedLimiter, retry_after_header
from crashveil.server.ingest.commit import Committer, GroupCommitter
from crashveil.server.ingest.decode import decode_report
from crashveil.server.ingest.deletion import confirmation, parse_deletion_request
from crashveil.server.ingest.redaction import Redact, RedactionMemo, memoised_redactor, redact_report
from crashveil.server.ingest.rejections import outside_window, reject, unknown_project
from crashveil.server.ingest.tags import listed_tags_only
from crashveil.server.storage.records import PendingReport, ProjectRecord, StoreResult, StoreRow
from crashveil.wire.canonical import canonical_json
from crashveil.wire.report import REPORT_FIELDS, REQUIRED_FIELDS, SCHEMA_VERSION, Report

if TYPE_CHECKING:
    from prometheus_client import Counter

    from crashveil.policy import Policy
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.http.metrics import Metrics
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

__all__ = ["Accepted", "Ingestor", "Prepared"]

#: A crash may be reported with a clock this far ahead of ours (the erasure tombstones' too).
FUTURE_SLACK = tombstones.FUTURE_SLACK
#: ``origin`` of every report that arrives through this API (storage also knows "sentry-sdk").
ORIGIN = "crashveil-sdk"
#: Reports up to this size (sealed, decompressed) are prepared on the event loop; larger
#: ones in a worker thread (see ``Ingestor.ingest_async``). A typical 30-frame report is ~3 KiB.
INLINE_PREPARE_BYTES = 16 * 1024
#: Seconds between two background reads of a day's data key that was not there yet.
DATA_KEY_RETRY_S = 5.0


@dataclass(frozen=True)
class Accepted:
    """What the client is told: the receipt, and whether this request created the report."""

    receipt: str
    created: bool
    counts_only: bool


@dataclass(frozen=True)
class Prepared:
    """A report ready to store, and what to count once it is committed."""

    pending: StoreRow
    unknown: tuple[str, ...]
    not_allowed: tuple[str, ...]
    hits: Mapping[tuple[str, str], int]
    #: Paths dropped because their field is stopped (``governance/lifecycle/field_stops.py``).
    stopped: tuple[str, ...] = ()


def _utc_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: how a signed deletion confirmation states its time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    """A background data-key lookup that failed is tried again later (the writer seals)."""
    if not future.cancelled():
        future.exception()


def _parse_hour(value: str) -> datetime:
    hour = _hour_or_none(value)
    if hour is None:
        raise reject("bad_format", "not a valid hour (YYYY-MM-DDTHH:00Z)", field="occurred_hour")
    return hour


@functools.lru_cache(maxsize=4096)
def _hour_or_none(value: str) -> datetime | None:
    """``strptime`` costs ~15 us and reports of one hour all carry the same string."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
    except ValueError:
        return None


def _within(report: Report, allowlist: tuple[str, ...]) -> bool:
    """Whether ``report.restricted_to(allowlist)`` would change nothing (checked without
    building the field list and the copy it makes): every field it carries is allowed (or
    required), and no chain message goes with a disallowed ``message``."""
    for name in REPORT_FIELDS:
        if name not in allowlist and name not in REQUIRED_FIELDS and getattr(report, name) is not None:
            return False
    return "message" in allowlist or not report.chain


class Ingestor:
    """The ingest pipeline of one app: limiters, redactors per policy, storage, metrics.

    ``ingest`` and ``delete`` are synchronous (HPKE, parsing, the database): the app runs
    them in a worker thread. The limiters are thread-safe.
    """

    def __init__(self, settings: Settings, storage: Storage, metrics: Metrics, *,
                 now: Callable[[], datetime], clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = metrics
        #: The audit trail erasures are recorded in (create_app sets it; the Sentry routes have none).
        self.audit: AuditTrail | None = None
        self._now = now
        self.project_limiter = KeyedLimiter(settings.project_rate_per_s, settings.project_burst, clock=clock,
                                            max_keys=10_000)
        self.pseudonym_limiter = KeyedLimiter(settings.pseudonym_rate_per_hour / 3600.0,
                                              settings.pseudonym_rate_per_hour, clock=clock)
        # What reports of counts-only groups are charged instead of their project's bucket
        # (see ``finish``): the project's rate and burst per (project, group).
        self.counts_only_limiter = KeyedLimiter(settings.project_rate_per_s, settings.project_burst, clock=clock,
                                                max_keys=10_000)
        self._redactors: dict[str, Redact] = {}
        self._frame_memos: dict[str, RedactionMemo] = {}
        self._allowlists: dict[tuple[str, str], tuple[str, ...]] = {}
        self._key_lookups: dict[tuple[str, str], float] = {}
        self.committer: Committer | None = None
        self._accepted: dict[bool, Counter] = {}
        self._stop_hooks: list[Callable[[], None]] = []

    def add_stop_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the server stops (:meth:`run_stop_hooks`): counters kept in memory flush."""
        self._stop_hooks.append(hook)

    def run_stop_hooks(self) -> None:
        for hook in self._stop_hooks:
            hook()

    def check_project_rate(self, project_id: str) -> None:
        """429 when the project's bucket is empty (before the body is read)."""
        wait = self.project_limiter.take(project_id)
        if wait:
            raise Throttled("project", retry_after_header(wait))

    def project(self, project_id: str) -> ProjectRecord:
        record = self.storage.project(project_id)
        if record is None:
            raise unknown_project()
        return record

    def open(self, project: ProjectRecord, sealed: bytes) -> bytes:
        from crashveil.server.keys.crypto import open_report

        return open_report(sealed, project.keypairs, project_id=project.id, schema_version=SCHEMA_VERSION)

    def ingest(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Accepted:
        """Open, validate, minimise, redact and store one report; see the module docstring.

        Synchronous: with a running :class:`GroupCommitter` the report joins the next group
        commit and this call waits for it; otherwise it is stored alone.
        """
        prepared = self.prepare(project_id, sealed, credential=credential)
        return self.finish(prepared, self.commit_sync(prepared.pending))

    async def ingest_async(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Accepted:
        """:meth:`ingest` for the event loop; the group commit is awaited without a thread.

        A body of at most :data:`INLINE_PREPARE_BYTES` from a project already cached is
        prepared on the loop itself: that is ~0.2 ms of CPU, which a worker thread would not
        run in parallel (the GIL) and whose two thread hops cost more than the work. Larger
        bodies, and project lookups that may read the database, go to a worker thread so
        the loop keeps answering. ``credential`` is who sent it (``peer.PeerCredential``):
        it weighs the report toward the group's counts-only threshold.
        """
        from starlette.concurrency import run_in_threadpool

        project = self.storage.cached_project(project_id) if len(sealed) <= INLINE_PREPARE_BYTES else None
        committer = self.committer
        if project is not None:
            if committer is not None and committer.writing:
                await committer.writer_pause()
            prepared = self.prepare_for(project, sealed, credential=credential)
        else:
            prepared = await run_in_threadpool(functools.partial(self.prepare, project_id, sealed,
                                                                 credential=credential))
        return self.finish(prepared, await self.commit(prepared.pending))

    async def commit(self, row: StoreRow) -> StoreResult:
        """Store one prepared row by group commit (or alone without a committer); its
        ``StoreResult`` once its transaction committed. The Sentry routes use it too."""
        from starlette.concurrency import run_in_threadpool

        self._learn_data_key(row)
        committer = self.committer
        if committer is None:
            return (await run_in_threadpool(self._store, [row]))[0]
        return await committer.submit_async(row)

    def commit_sync(self, row: StoreRow) -> StoreResult:
        """:meth:`commit` from a worker thread (the in-process writer only)."""
        committer = self.committer
        if isinstance(committer, GroupCommitter):
            return committer.submit(row).result()
        if committer is None:
            return self._store([row])[0]
        raise RuntimeError("storing from a thread needs the in-process writer")

    def frame_memo(self, digest: str) -> RedactionMemo:
        """The stack memo of a policy (see :func:`redact_report`)."""
        memo = self._frame_memos.get(digest)
        if memo is None:
            memo = self._frame_memos[digest] = RedactionMemo()
        return memo

    def _learn_data_key(self, row: StoreRow) -> None:
        """A row without a sealed detail: the day's data key is not known here (a front
        process, or the first report of a day). Read it in the background, at most every
        few seconds per day, so the next rows are sealed here and not in the writer."""
        if row.sealed is not None:
            return
        key = (row.project_id, row.day)
        now = time.monotonic()
        if now - self._key_lookups.get(key, -1e9) < DATA_KEY_RETRY_S:
            return
        if len(self._key_lookups) > 1024:
            self._key_lookups.clear()
        self._key_lookups[key] = now
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.storage.learn_data_key, *key)
        future.add_done_callback(_ignore_failure)

    def prepare(self, project_id: str, sealed: bytes, *, credential: str | None = None) -> Prepared:
        """Everything before the store: open, validate, minimise, redact."""
        return self.prepare_for(self.project(project_id), sealed, credential=credential)

    def prepare_for(self, project: ProjectRecord, sealed: bytes, *, credential: str | None = None) -> Prepared:
        """:meth:`prepare` for a project record already looked up."""
        report, unknown = decode_report(self.open(project, sealed), drop_unknown=True)
        policy = project.policies.get(report.policy_digest)
        if policy is None:
            raise reject("unknown_policy_digest", "the report was built under a policy this project does not have",
                         field="policy_digest")
        try:
            rank = policy.rank(report.consent_level)
        except KeyError:
            raise reject("unknown_consent_level", "the policy has no such consent level",
                         field="consent_level") from None
        if rank == 0:
            raise reject("consent_off", "a report at consent level off is never accepted", field="consent_level")
        received_at = self._now()
        if report.occurred_hour is not None:
            hour = _parse_hour(report.occurred_hour)
            if (hour + timedelta(hours=1) < received_at - timedelta(seconds=self.settings.replay_window_s)
                    or hour > received_at + FUTURE_SLACK):
                raise outside_window()
        if report.install_id is not None:
            wait = self.pseudonym_limiter.take(f"{project.id}/{report.install_id}")
            if wait:
                raise Throttled("installation", retry_after_header(wait))
        allowlist = self._allowlist(report.policy_digest, policy, report.consent_level)
        allowed = report if _within(report, allowlist) else report.restricted_to(allowlist)
        not_allowed: tuple[str, ...] = ()
        if allowed is not report:
            not_allowed = tuple(sorted(set(report.present_fields()) - set(allowed.present_fields())))
        if allowed.chain and "message" not in allowlist and any(c.message is not None for c in report.chain or ()):
            not_allowed += ("chain.message",)
        if allowed.tags is not None:
            allowed, unlisted = listed_tags_only(allowed, policy)
            not_allowed += unlisted
        allowed, stopped = drop_stopped(allowed, allowlist, report_stops(project, report.release, received_at))
        redacted, hits = redact_report(allowed, self.redactor(report.policy_digest, policy),
                                       frame_memo=self.frame_memo(report.policy_digest))
        pending = PendingReport(project.id, redacted, ORIGIN, received_at, with_stop_counts(hits, stopped),
                                tuple(unknown) + not_allowed, credential)
        # fingerprint, detail JSON, encryption: here, not in the writer's transaction
        return Prepared(self.storage.row(pending), tuple(unknown), not_allowed, hits, stopped)

    def _store(self, rows: list[StoreRow]) -> list[StoreResult]:
        """Store prepared rows in one transaction, without the group-commit writer."""
        return self.storage.store_rows(rows)

    def _allowlist(self, digest: str, policy: Policy, level: str) -> tuple[str, ...]:
        """``policy.fields_at(level)``, kept per (policy, level)."""
        key = (digest, level)
        fields = self._allowlists.get(key)
        if fields is None:
            if len(self._allowlists) > 1024:
                self._allowlists.clear()
            fields = self._allowlists[key] = policy.fields_at(level)
        return fields

    def finish(self, prepared: Prepared, result: StoreResult) -> Accepted:
        """Count what was stored (only after the commit: a 503 leaves the counters untouched)."""
        if result.refused:
            raise outside_window()
        self.metrics.count_dropped(prepared.unknown, "unknown")
        self.metrics.count_dropped(prepared.not_allowed, "not_allowed")
        if prepared.stopped:
            self.metrics.count_dropped(prepared.stopped, "stopped")
        for (field, detector), count in prepared.hits.items():
            self.metrics.redaction_hits.labels(field, detector).inc(count)
        accepted = self._accepted.get(bool(result.created))
        if accepted is None:  # the labelled child, looked up once (``labels`` takes a lock and hashes)
            accepted = self._accepted[bool(result.created)] = self.metrics.accepted.labels(
                "created" if result.created else "retry")
        accepted.inc()
        if result.counts_only:
            self._charge_counts_only(prepared.pending.project_id, result.group_id)
        return Accepted(receipt=result.receipt, created=bool(result.created), counts_only=bool(result.counts_only))

    def _charge_counts_only(self, project_id: str, group_id: int) -> None:
        """Move a counts-only report's token from its project's bucket to its group's.

        The project bucket is taken before the body is opened (the group is not known yet),
        so without this a mass failure would use up the project's budget and its other groups
        would be refused with 429 until it passed. A report of a group in counts-only mode is
        charged to that group's own bucket (the project's rate and burst) instead. While that
        bucket has tokens the project's token is given back; once it is empty the flood
        competes for the project's tokens again, so a flood (or a sender with the DSN posing
        as one) gets at most twice the project's rate.
        """
        if not self.counts_only_limiter.take(f"{project_id}/{group_id}"):
            self.project_limiter.refund(project_id)

    def start_group_commit(self, *, max_batch: int = 256, max_wait_s: float = 0.0) -> Committer:
        """Store reports through one writer thread with group commit (see :class:`GroupCommitter`)."""
        if self.committer is None:
            from crashveil.server.db.engine import is_sqlite
            from crashveil.server.ingest.commit import batch_wait

            wait = batch_wait(is_sqlite(self.storage.engine))
            self.committer = GroupCommitter(self.storage.store_rows, max_batch=max_batch,
                                            max_wait_s=max(max_wait_s, wait.max_wait_s), gap_s=wait.gap_s)
        return self.committer

    def close(self) -> None:
        """Stop the group-commit writer after it stored what was queued."""
        committer, self.committer = self.committer, None
        if committer is not None:
            committer.close()

    def redactor(self, digest: str, policy: Policy) -> Redact:
        """The policy's memoised ``redact(text, kind)`` (see :func:`.redaction.memoised_redactor`)."""
        run = self._redactors.get(digest)
        if run is None:
            run = self._redactors[digest] = memoised_redactor(policy)
        return run

    def delete(self, project_id: str, sealed: bytes) -> dict[str, str]:
        """Open and process a sealed deletion request; the signed confirmation to return
        (the same whether the pseudonyms had reports or not: see :mod:`.deletion`)."""
        project = self.project(project_id)
        request_id, install_ids = parse_deletion_request(self.open(project, sealed))
        if self.audit is not None:  # the real server: the erasure goes to the audit trail too
            from crashveil.server.governance.erasure import erase_installs

            record = erase_installs(self.storage, self.audit, project.id, request_id, install_ids, now=self._now())
        else:
            record = self.storage.process_deletion_request(project.id, request_id, install_ids, now=self._now())
        signed = canonical_json({"request_id": record.request_id, "project_id": record.project_id,
                                 "processed_at": _utc_seconds(record.processed_at)})
        signature = project.signing_key.sign(signed)
        self.metrics.deletions.inc()
        return confirmation(request_id, signed, signature)
