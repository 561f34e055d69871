"""Sentry-compatible ingest: the envelope and store endpoints, for apps that ship the Sentry SDK.

Routes (``sentry_routes`` returns them; ``app.py`` mounts them)::

    POST /api/{numeric_id}/envelope/      Sentry envelopes (one event item at most)
    POST /api/{numeric_id}/store/         the legacy store endpoint (one event as JSON)
    OPTIONS on both                       CORS preflight for browser SDKs

The order is the order of cost, cheapest refusal first::

    numeric id -> DSN key (constant-time, revocable) -> both rate budgets empty? -> Content-Length
    -> body streamed through the capped decoder into the envelope parser (only the event item
    and client reports are kept; other items are counted and skipped as they stream)
    -> the budget of what the envelope holds (errors, or other: budgets.py) -> event JSON
    -> allowlist mapping (sentry_mapping) -> per-user limit -> consent level's allowlist
    -> redact again -> the native path's group commit (origin "sentry-sdk") -> 200 {"id": event_id}

The 200 is sent after the event's transaction committed, as the native 201 is: events share
the native reports' group commit (``Ingestor.commit``: the writer thread, or the writer
process with several workers), many per transaction.

Answers follow Sentry's protocol (develop.sentry.dev, "Envelopes", "Rate Limiting"): 200
with the event id; 429 with ``Retry-After`` and ``X-Sentry-Rate-Limits`` (the project's
budgets and the per-user limit, ``budgets.py``: the SDK backs off and counts what it drops
meanwhile in its client reports); 413 when too large; other 4xx for malformed input (the
SDK drops, never retries); 503 with ``Retry-After`` when storage fails. Items that are not
error events (transactions, sessions, attachments, replays, ...) are dropped and counted;
the 200 names them in ``"dropped"`` and ``X-Sentry-Rate-Limits`` asks the SDK to stop
sending those categories for :data:`UNSUPPORTED_BACKOFF_S`, so it stops spending its users'
bandwidth on them. An event the policy does not store (not an error event) is answered
200 with a ``"dropped"`` reason, as Relay answers filtered events.

Nothing is dropped silently: every event stored or refused, every item dropped, every
field left out and every discard an SDK reports in a ``client_report`` is counted per DSN
key (``outcomes.py``), shown by ``crashveil project sentry-key list`` and the dashboard's
Sentry page, and exported as ``crashveil_sentry_outcomes_total``.

Limits (:class:`~crashveil.server.sentry.envelope.SentryLimits`, which says why): one event
1 MiB decompressed and the store endpoint 200 KiB compressed, as Sentry; an envelope 8 MiB on
the wire and 8 MiB decompressed, far below Relay's 50 MiB, because crashveil keeps only the
event item. Memory stays near the event cap whatever the envelope holds, because dropped
items are never buffered; the parser is linear and the body reader yields to the event loop
every :data:`~crashveil.server.http.body.YIELD_EVERY` bytes of output, so a bomb stalls neither
listener.

The client's address is never read (``app.py`` removes it from the scope), and the
``user.ip_address`` an SDK sends is dropped by the mapping.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crashveil.errors import ReportRejected, Throttled
from crashveil.server.governance.lifecycle.field_stops import drop_stopped, report_stops, with_stop_counts
from crashveil.server.http.body import BODY_TIMEOUT_S, stream_body
from crashveil.server.http.errors import timed
from crashveil.server.http.peer import CREDENTIAL_KEY
from crashveil.server.http.ratelimit import KeyedLimiter
from crashveil.server.ingest.credential_weight import credential_id
from crashveil.server.ingest.redaction import redact_report
from crashveil.server.ingest.rejections import outside_window
from crashveil.server.sentry.budgets import SentryBudgets, user_limited
from crashveil.server.sentry.client_reports import parse_client_report
from crashveil.server.sentry.envelope import ITEM_CATEGORIES, Envelope, EnvelopeParser, SentryLimits
from crashveil.server.sentry.keys import (
    PseudonymKeys,
    SentryKeys,
    SentryProject,
    default_level,
)
from crashveil.server.sentry.mapping import (
    DROPPABLE_PATHS,
    EventSkipped,
    MappedEvent,
    event_to_report,
    normalize_event_id,
    parse_timestamp,
    with_fingerprint,
)
from crashveil.server.sentry.outcomes import ACCEPTED, OutcomeRecorder
from crashveil.server.storage.records import PendingReport, StoreResult, StoreRow

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.server.http.metrics import Metrics
    from crashveil.server.ingest.pipeline import Ingestor
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.server.storage.store import Storage

__all__ = [
    "ORIGIN",
    "UNSUPPORTED_BACKOFF_S",
    "Envelope",
    "EnvelopeParser",
    "SentryIngest",
    "SentryLimits",
    "parse_auth",
    "sentry_routes",
]

ORIGIN = "sentry-sdk"
#: How long the SDK is asked to stop sending item categories we drop (Relay's longest limit).
UNSUPPORTED_BACKOFF_S = 300
#: Where ``authenticate`` leaves the key's row id for the error path's outcome count.
KEY_ID_SCOPE = "crashveil.sentry_key_id"
_NUMERIC_RE = re.compile(r"^[0-9]{1,9}$")
_AUTH_PAIR = re.compile(r"^\s*([a-z_]{1,32})\s*=\s*(.{0,256}?)\s*$")
_CORS = {"Access-Control-Allow-Origin": "*",
         "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after"}
_PREFLIGHT = {**_CORS, "Access-Control-Allow-Methods": "POST, OPTIONS",
              "Access-Control-Allow-Headers": "x-sentry-auth, content-type, content-encoding, sentry-trace, baggage",
              "Access-Control-Max-Age": "3600"}


def _bad(code: str, message: str, status: int = 400, field: str | None = None) -> ReportRejected:
    return ReportRejected(code, message, field=field, status=status)


# --- authentication --------------------------------------------------------------------------


def parse_auth(request: Request) -> str | None:
    """The DSN public key from ``X-Sentry-Auth``, ``Authorization: Sentry ...`` or ``?sentry_key=``."""
    for name in ("x-sentry-auth", "authorization"):
        value = request.headers.get(name)
        if not value:
            continue
        text = value.strip()
        if text[:7].lower() == "sentry ":
            text = text[7:]
        elif name == "authorization":
            continue
        for part in text.split(",")[:16]:
            match = _AUTH_PAIR.match(part)
            if match and match.group(1) == "sentry_key":
                return match.group(2)
    keys = request.query_params.getlist("sentry_key")
    return keys[0] if len(keys) == 1 else None


# --- the pipeline --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one request produced: the event id to answer, and what was dropped and why."""

    event_id: str | None
    dropped: dict[str, tuple[int, str]]  # item type -> (count, reason)
    stored: bool


@dataclass(frozen=True)
class PreparedEvent:
    """An event mapped, minimised and redacted, ready for the group commit."""

    row: StoreRow
    event_id: str | None
    mapped_dropped: Counter[tuple[str, str]]
    not_allowed: tuple[str, ...]
    hits: dict[tuple[str, str], int]
    key_id: int | None = None


class SentryIngest:
    """Authentication, limits, mapping and storage of Sentry events for one app.

    ``ingestor`` is the app's native :class:`~crashveil.server.ingest.pipeline.Ingestor`: its project
    and pseudonym rate limiters and its redactors are shared, so a project has one budget
    whichever SDK its reports come from.
    """

    def __init__(self, settings: Settings, storage: Storage, ingestor: Ingestor, metrics: Metrics, *,
                 limits: SentryLimits,
                 now: Callable[[], datetime]) -> None:
        self.settings = settings
        self.storage = storage
        self.ingestor = ingestor
        self.limits = limits
        self._now = now
        self.keys = SentryKeys(storage.engine, cache_s=settings.project_cache_s, now=now)
        self.pseudonyms = PseudonymKeys(storage.engine, storage.keys.provider)
        from prometheus_client import Counter as PromCounter

        registry = metrics.registry
        self.events = PromCounter("crashveil_sentry_events", "Sentry events by outcome (stored, retry, skipped).",
                                  ["outcome"], registry=registry)
        self.items_dropped = PromCounter("crashveil_sentry_items_dropped",
                                         "Envelope items dropped because they are not error events, by type.",
                                         ["type"], registry=registry)
        self.rejected = PromCounter("crashveil_sentry_rejected", "Sentry requests refused, by error code.",
                                    ["reason"], registry=registry)
        other = KeyedLimiter(settings.project_rate_per_s, settings.project_burst, max_keys=10_000)
        self.budgets = SentryBudgets(ingestor.project_limiter, other)
        self.outcomes = OutcomeRecorder(storage.engine, registry)
        ingestor.add_stop_hook(self.outcomes.close)

    def authenticate(self, request: Request) -> SentryProject:
        numeric = request.path_params["numeric_id"]
        if not _NUMERIC_RE.match(numeric):
            raise _bad("unknown_project", "no such project", 404)
        key = parse_auth(request)
        if key is None:
            raise _bad("missing_auth", "no sentry_key in X-Sentry-Auth or the query string", 401)
        project = self.keys.authenticate(int(numeric), key.lower())
        if project is None:
            raise _bad("invalid_key", "the DSN key is unknown or revoked for this project", 401)
        # The DSN key is this sender's credential: it weighs its events toward counts-only mode.
        request.scope[CREDENTIAL_KEY] = credential_id("dsn", key.lower().encode())
        request.scope[KEY_ID_SCOPE] = project.key_id
        return project

    def count(self, project: SentryProject, kind: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Count outcomes of ``project``'s key (see ``outcomes.py``)."""
        if project.key_id is not None:
            self.outcomes.add_many(project.key_id, kind, counts)

    def count_envelope(self, project: SentryProject, parsed: Envelope) -> None:
        """Count what the SDK reported discarding (its client reports)."""
        for payload in parsed.client_reports:
            discarded = parse_client_report(payload)
            if discarded is None:
                self.count(project, "item", {("client_report", "malformed"): 1})
            else:
                self.count(project, "client", discarded)

    def take_budget(self, project: SentryProject, parsed: Envelope) -> None:
        """The budget of what ``parsed`` holds; a refusal is counted, then raised (429)."""
        try:
            if parsed.event is None:
                self.budgets.take_other(project.project_id)
            else:
                self.budgets.take_event(project.project_id)
        except Throttled:
            refused = {(kind, "rate_limited"): n for kind, n in parsed.dropped.items()}
            self.count(project, "item", refused)
            if parsed.event is not None:
                self.count(project, "event", {("error", "project_rate_limited"): 1})
            raise
        self.count(project, "item", {(kind, "unsupported_item_type"): n for kind, n in parsed.dropped.items()})

    async def read(self, request: Request, sink: Callable[[bytes], None], *, max_body: int,
                   max_decompressed: int, timeout_s: float) -> None:
        """Stream the body through the capped decoder into ``sink`` (``server.body.stream_body``)."""
        await stream_body(request, sink, max_body_bytes=max_body, max_decompressed_bytes=max_decompressed,
                          timeout_s=timeout_s)

    def process(self, sentry_project: SentryProject, payload: bytes, header: dict[str, Any], *,
                credential: str | None = None) -> Outcome:
        """Map, minimise, redact and store one event payload (synchronous: a worker thread)."""
        prepared = self.prepare(sentry_project, payload, header, credential=credential)
        if isinstance(prepared, Outcome):
            return prepared
        return self.finish(prepared, self.ingestor.commit_sync(prepared.row))

    async def process_async(self, sentry_project: SentryProject, payload: bytes, header: dict[str, Any], *,
                            credential: str | None = None) -> Outcome:
        """:meth:`process` for the event loop: the mapping in a worker thread (an event is up
        to 1 MiB of JSON), the group commit awaited."""
        prepared = await run_in_threadpool(self.prepare, sentry_project, payload, header, credential=credential)
        if isinstance(prepared, Outcome):
            return prepared
        return self.finish(prepared, await self.ingestor.commit(prepared.row))

    def prepare(self, sentry_project: SentryProject, payload: bytes, header: dict[str, Any], *,
                credential: str | None = None) -> PreparedEvent | Outcome:
        """Map, minimise and redact one event: a row to store, or the Outcome of a skip."""
        header_event_id = normalize_event_id(header["event_id"]) if header.get("event_id") is not None else None
        try:
            event = json.loads(payload.decode("utf-8"))
        except RecursionError:
            raise _bad("too_deep", "the event is nested too deeply") from None
        except (UnicodeDecodeError, ValueError):
            raise _bad("bad_event", "the event is not UTF-8 JSON") from None
        project = self.ingestor.project(sentry_project.project_id)
        policy = project.policy
        level = sentry_project.level
        if level is None or level not in policy.level_names or policy.rank(level) == 0:
            level = default_level(policy)
        received_at = self._now()
        sent_at = parse_timestamp(header.get("sent_at")) if header.get("sent_at") is not None else None
        pseudonymize = None
        if policy.allows(level, "install_id"):
            rotation = policy.keys.pseudonym_rotation_days

            def pseudonymize(user_id: str) -> str:
                return self.pseudonyms.pseudonym(project.id, user_id, rotation_days=rotation, now=received_at)

        try:
            mapped = event_to_report(event, project_id=project.id, policy_digest=project.digest, level=level,
                                     received_at=received_at, sent_at=sent_at, header_event_id=header_event_id,
                                     replay_window_s=self.settings.replay_window_s, pseudonymize=pseudonymize,
                                     policy=policy)
        except EventSkipped as skipped:
            self.events.labels("skipped").inc()
            self.count(sentry_project, "event", {("error", skipped.reason): 1})
            event_id = header_event_id or _event_id_of(event)
            return Outcome(event_id, {"event": (1, skipped.reason)}, False)
        return self._minimise(sentry_project, mapped, policy, level, project, received_at, credential)

    def _minimise(self, sentry_project: SentryProject, mapped: MappedEvent, policy: Policy, level: str,
                  project: ProjectRecord, received_at: datetime, credential: str | None) -> PreparedEvent:
        """The per-user limit, the level's allowlist and the second redaction of a mapped event."""
        report = mapped.report
        if report.install_id is not None:
            wait = self.ingestor.pseudonym_limiter.take(f"{project.id}/{report.install_id}")
            if wait:  # 429, asking for a short backoff only (budgets.user_limited)
                self.events.labels("skipped").inc()
                self.count(sentry_project, "event", {("error", "user_rate_limited"): 1})
                raise user_limited(wait)
        allowlist = policy.fields_at(level)
        allowed = report.restricted_to(allowlist)
        not_allowed = tuple(sorted(set(report.present_fields()) - set(allowed.present_fields())))
        if report.chain and "message" not in allowlist and any(c.message is not None for c in report.chain):
            not_allowed += ("chain.message",)
        allowed, stopped = drop_stopped(allowed, allowlist, report_stops(project, report.release, received_at))
        redactor = self.ingestor.redactor(project.digest, policy)
        redacted, hits = redact_report(allowed, redactor, frame_memo=self.ingestor.frame_memo(project.digest))
        redacted = with_fingerprint(redacted)
        dropped_paths = tuple(sorted({path for path, _ in mapped.dropped}))
        pending = PendingReport(project.id, redacted, ORIGIN, received_at, with_stop_counts(hits, stopped),
                                tuple(sorted(set(dropped_paths) | set(not_allowed))), credential)
        return PreparedEvent(self.storage.row(pending), mapped.event_id, mapped.dropped, not_allowed, hits,
                             sentry_project.key_id)

    def finish(self, prepared: PreparedEvent, result: StoreResult) -> Outcome:
        """Count what was stored (after the commit: a 503 leaves the counters untouched)."""
        if result.refused:  # an erasure's tombstone (see tombstones.py)
            raise outside_window()
        self.ingestor.metrics.count_dropped(prepared.not_allowed, "not_allowed")
        for (field_name, detector), count in prepared.hits.items():
            self.ingestor.metrics.redaction_hits.labels(field_name, detector).inc(count)
        self.events.labels("stored" if result.created else "retry").inc()
        if result.created and prepared.key_id is not None:  # a retried event was counted the first time
            fields: Counter[tuple[str, str]] = Counter()
            for (path, reason), count in prepared.mapped_dropped.items():  # fixed paths only: bounded rows
                fields[(path if path in DROPPABLE_PATHS else "<unknown>", reason)] += count
            fields.update((name, "level_too_low") for name in prepared.not_allowed)
            for (field_name, _detector), count in prepared.hits.items():
                fields[(field_name, "redacted")] += count
            self.outcomes.add_many(prepared.key_id, "event", {("error", ACCEPTED): 1})
            self.outcomes.add_many(prepared.key_id, "field", fields)
        return Outcome(prepared.event_id, {}, True)


def _event_id_of(event: Any) -> str | None:
    if isinstance(event, dict):
        try:
            return normalize_event_id(event.get("event_id"))
        except ReportRejected:
            return None
    return None


def _answer(outcome: Outcome, dropped_items: Counter[str]) -> Response:
    body: dict[str, Any] = {"id": outcome.event_id}
    dropped = [{"type": kind, "count": count, "reason": "unsupported_item_type"}
               for kind, count in sorted(dropped_items.items())]
    dropped += [{"type": kind, "count": count, "reason": reason} for kind, (count, reason) in outcome.dropped.items()]
    if dropped:
        body["dropped"] = dropped
    headers = dict(_CORS)
    categories = sorted({c for kind in dropped_items if (c := ITEM_CATEGORIES.get(kind)) and c != "error"})
    if categories:
        headers["X-Sentry-Rate-Limits"] = f"{UNSUPPORTED_BACKOFF_S}:{';'.join(categories)}:key:crashveil_errors_only"
    return JSONResponse(body, status_code=200, headers=headers)


def sentry_routes(storage: Storage, settings: Settings, *, ingestor: Ingestor | None = None,
                  metrics: Metrics | None = None,
                  now: Callable[[], datetime] | None = None, limits: SentryLimits | None = None,
                  body_timeout_s: float = BODY_TIMEOUT_S) -> list[Route]:
    """The Sentry-compatible routes over ``storage``.

    Args:
        storage: the app's ``Storage``.
        settings: the server ``Settings``.
        ingestor: the app's native ``Ingestor`` (shared limiters and redactors); a new one if
            ``None`` (then with its own ``Metrics``).
        metrics: the app's ``Metrics``; Sentry counters are added to its registry.
        now: wall clock, UTC aware.
        limits: size limits (Sentry's documented ones by default).
        body_timeout_s: a body that has not fully arrived after this long is answered 408.
    """
    from crashveil.server.http.metrics import Metrics
    from crashveil.server.ingest.pipeline import Ingestor

    clock = now or (lambda: datetime.now(UTC))
    if ingestor is None:
        ingestor = Ingestor(settings, storage, metrics or Metrics(), now=clock)
    metrics = metrics or ingestor.metrics
    limits = limits or SentryLimits()
    sentry = SentryIngest(settings, storage, ingestor, metrics, limits=limits, now=clock)
    handlers = _SentryEndpoints(sentry, limits, body_timeout_s)
    routes = []
    for path, handler in (("/api/{numeric_id}/envelope/", handlers.envelope),
                          ("/api/{numeric_id}/store/", handlers.store)):
        routes.append(Route(path, timed(path, handler, metrics, on_error=_on_error(sentry)), methods=["POST"]))
        routes.append(Route(path, _preflight, methods=["OPTIONS"]))
    return routes


def _on_error(sentry: SentryIngest) -> Callable[[Request, Exception, Response], None]:
    """After the error map answered: count the refusal, then add what Sentry SDKs read."""
    def after(request: Request, exc: Exception, response: Response) -> None:
        _count_rejection(sentry, exc, request.scope.get(KEY_ID_SCOPE))
        _sentry_error_headers(response, exc)
    return after


def _count_rejection(sentry: SentryIngest, exc: Exception, key_id: int | None) -> None:
    """The metric of every refusal; and, once the key is known, the outcome of a refused event
    (a 429 was counted where it was decided; a 5xx is not a drop: the SDK keeps or counts it)."""
    code = exc.code if isinstance(exc, ReportRejected) else "internal"
    code = code if len(code) <= 40 else "internal"
    sentry.rejected.labels(code).inc()
    if key_id is not None and isinstance(exc, ReportRejected) and 400 <= exc.status < 500 and exc.status != 429:
        sentry.outcomes.add(key_id, "event", "error", code)


def _sentry_error_headers(response: Response, exc: Exception) -> None:
    """What Sentry SDKs read from an error: the rate limit, "too large", and CORS."""
    if isinstance(exc, Throttled):
        response.headers["X-Sentry-Rate-Limits"] = (exc.sentry_rate_limits
                                                    or f"{exc.retry_after}::key:crashveil_rate_limit")
    if response.status_code == 413:
        response.headers["X-Sentry-Error"] = "too large"
    response.headers.update(_CORS)


async def _preflight(request: Request) -> Response:
    return Response(status_code=200, headers=_PREFLIGHT)


class _CappedSink:
    """Collects a body's chunks; past ``max_bytes`` it refuses the event (413)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise _bad("too_large", f"the event is larger than {self.max_bytes} bytes", 413)
        self.parts.append(chunk)


class _SentryEndpoints:
    """The two Sentry ingest endpoints: envelopes (current SDKs) and ``store`` (older ones)."""

    def __init__(self, sentry: SentryIngest, limits: SentryLimits, body_timeout_s: float) -> None:
        self.sentry = sentry
        self.limits = limits
        self.body_timeout_s = body_timeout_s

    async def envelope(self, request: Request) -> Response:
        sentry, limits = self.sentry, self.limits
        project = sentry.authenticate(request)
        try:
            sentry.budgets.before_read(project.project_id)
        except Throttled:
            sentry.count(project, "item", {("envelope", "project_rate_limited"): 1})
            raise
        parser = EnvelopeParser(limits)
        await sentry.read(request, parser.feed, max_body=limits.max_envelope_bytes,
                          max_decompressed=limits.max_envelope_decompressed_bytes, timeout_s=self.body_timeout_s)
        parsed = parser.finish()
        if parsed.header.get("event_id") is not None:
            normalize_event_id(parsed.header["event_id"], "envelope.event_id")
        for kind, count in parsed.dropped.items():
            sentry.items_dropped.labels(kind).inc(count)
        sentry.count_envelope(project, parsed)
        sentry.take_budget(project, parsed)
        if parsed.event is None:
            return _answer(Outcome(None, {}, False), parsed.dropped)
        outcome = await sentry.process_async(project, parsed.event, parsed.header,
                                             credential=request.scope.get(CREDENTIAL_KEY))
        return _answer(outcome, parsed.dropped)

    async def store(self, request: Request) -> Response:
        sentry, limits = self.sentry, self.limits
        project = sentry.authenticate(request)
        try:
            sentry.budgets.take_event(project.project_id)
        except Throttled:
            sentry.count(project, "event", {("error", "project_rate_limited"): 1})
            raise
        sink = _CappedSink(limits.max_event_bytes)
        await sentry.read(request, sink, max_body=limits.max_store_bytes,
                          max_decompressed=limits.max_event_bytes, timeout_s=self.body_timeout_s)
        payload = b"".join(sink.parts)
        if not payload.strip():
            raise _bad("empty_body", "the body is empty")
        outcome = await sentry.process_async(project, payload, {}, credential=request.scope.get(CREDENTIAL_KEY))
        return _answer(outcome, Counter())
