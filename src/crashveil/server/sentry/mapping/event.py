"""One Sentry event -> one crashveil ``Report``, by allowlist.

Only these parts of an event are read (everything else is never copied, and each dropped
part is counted in ``MappedEvent.dropped`` under a fixed path and a reason, never an
attacker's key):

==============================  ===================================================
Sentry                          crashveil ``Report``
==============================  ===================================================
``event_id``                    ``report_id`` (as a UUID; see ``report_id_for``)
``exception.values[-1]``        ``crash_type`` (``module.Type``), ``message`` (its value),
                                ``mechanism`` and ``handled`` (``exceptions.py``),
                                ``error_code``, ``stack`` (``frames.py``)
``exception.values[:-1]``       ``chain`` (innermost cause first; ``cause`` or ``context``)
``logentry`` / ``message``      message events: ``message_template``, and the title
                                (``messages.py``); formatted text and params dropped
frames                          ``file`` (relative to the app root), ``function``,
                                ``line``, ``in_app``; ``context_line`` of in-app frames
                                -> ``source_context``. ``vars``, pre/post context,
                                addresses and the rest are dropped.
``threads`` / ``stacktrace``    the stack, when the exception has none (native, Java,
                                messages with ``attach_stacktrace``)
``release`` ``dist``            ``release`` ``dist``
``environment``                 ``deployment`` (``environment`` is the OS and runtime)
``level`` ``logger``            ``severity`` ``logger``
``platform``                    ``platform`` (a documented name, else ``other``)
``transaction`` / ``culprit``   ``transaction``
``tags``                        ``tags`` (keys the policy lists; ``scope.py``)
``fingerprint``                 ``grouping`` (the SDK's grouping, honoured by the server)
``contexts.os/runtime/device``  ``environment``, ``device_class`` (``contexts.py``)
``timestamp`` (+ ``sent_at``)   ``occurred_hour`` (clock drift corrected, coarsened)
``user.id``                     ``install_id``: a keyed pseudonym, only when the
                                policy allows ``install_id`` (``pseudonymize``)
``breadcrumbs``                 ``breadcrumbs`` (offset, category, message)
==============================  ===================================================

Dropped always: ``request``, the rest of ``user`` (email, username, IP address, geo),
``extra``, ``server_name``, ``modules``, other contexts, ``debug_meta``, ``sdk``, and
unknown keys (``<unknown>``). Fields the key's consent level does not allow are counted as
``level_too_low``; the caller applies that allowlist (``Report.restricted_to``) and the
redaction of every string (``ingest.redaction.redact_report``) afterwards, exactly as for
native reports, and counts redaction hits as ``redacted``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crashveil.errors import EventSkipped, ReportRejected
from crashveil.policy import compute_fingerprint
from crashveil.server.sentry.mapping import contexts, exceptions, messages, scope
from crashveil.server.sentry.mapping.frames import FRAME_PATHS, AppRoot, frames_of, source_context, stack_of
from crashveil.server.sentry.mapping.read import LEVEL_TOO_LOW, UNKNOWN, Dropped, as_list, cut, obj, text
from crashveil.server.sentry.mapping.times import FUTURE_SLACK, normalize_event_id, occurred_at, report_id_for
from crashveil.wire import LIMITS, REPORT_FIELDS, SCHEMA_VERSION, Report
from crashveil.wire.report import REQUIRED_FIELDS

if TYPE_CHECKING:
    from crashveil.policy import Policy

__all__ = ["DROPPABLE_PATHS", "MappedEvent", "event_to_report"]

_TEXT = LIMITS["max_message_chars"]
_NAME = LIMITS["max_name_chars"]

#: Top-level event keys Sentry documents; any other key is counted as ``<unknown>``.
_KNOWN_TOP = frozenset((
    "event_id", "timestamp", "start_timestamp", "platform", "level", "logger", "transaction", "server_name",
    "release", "dist", "environment", "modules", "extra", "tags", "fingerprint", "exception", "message",
    "logentry", "threads", "stacktrace", "request", "user", "contexts", "breadcrumbs", "sdk", "debug_meta",
    "errors", "type", "culprit", "spans", "measurements", "_meta", "received", "version", "template",
    "transaction_info", "ingest_path", "key_id", "project", "_metrics", "_dsc", "hashes", "grouping_config",
    "client_sdk", "location", "title", "metadata", "nodestore_insert", "exclusive_time", "csp", "hpkp",
    "expectct", "expectstaple", "applecrashreport", "sentry.interfaces.Exception",
    "sentry.interfaces.Message", "sentry.interfaces.Http", "sentry.interfaces.User", "main_thread_id",
    "scraping_attempts", "symbolicated_in_app", "debug",
))
_USED_TOP = frozenset(("event_id", "timestamp", "exception", "threads", "release", "contexts", "user",
                       "breadcrumbs", "type", "platform", "level", "logger", "logentry", "message", "dist",
                       "environment", "tags", "fingerprint", "transaction", "culprit", "stacktrace"))

#: Every path :func:`event_to_report` may name as dropped (metrics use them as label values).
DROPPABLE_PATHS: frozenset[str] = frozenset(
    {UNKNOWN, "threads", "timestamp", "chain.message"} | (_KNOWN_TOP - _USED_TOP) | set(REPORT_FIELDS)
    | FRAME_PATHS | contexts.CONTEXT_PATHS | exceptions.EXCEPTION_PATHS | messages.MESSAGE_PATHS | scope.SCOPE_PATHS)


@dataclass(frozen=True)
class MappedEvent:
    """The report built from an event (before the level's allowlist) and what was left out.

    ``dropped`` counts ``(path, reason)``: the path from :data:`DROPPABLE_PATHS`, the reason
    from ``read.DROP_REASONS``.
    """

    report: Report
    event_id: str
    dropped: Counter[tuple[str, str]]


def event_to_report(event: Any, *, project_id: str, policy_digest: str, level: str, received_at: datetime,
                    sent_at: datetime | None = None, header_event_id: str | None = None,
                    replay_window_s: int = 7 * 86400, pseudonymize: Callable[[str], str] | None = None,
                    policy: Policy | None = None) -> MappedEvent:
    """Build the report of one Sentry event; see the module docstring.

    ``policy`` (the project's; the shipped one if ``None``) gives the level's allowlist and
    the tag keys.

    Raises:
        EventSkipped: not an error or message event (a transaction), or nothing to map.
        ReportRejected: the event is malformed (400) or outside the replay window (422).
    """
    if not isinstance(event, dict):
        raise ReportRejected("bad_event", "the event is not a JSON object")
    if event.get("type") not in (None, "error", "default"):
        raise EventSkipped("not_an_error_event")
    if policy is None:
        from crashveil.policy import default_policy

        policy = default_policy()
    allowed = frozenset(policy.fields_at(level)) if level in policy.level_names else frozenset()
    dropped = Dropped()
    for key in event:
        if key not in _USED_TOP:
            dropped.known(key, _KNOWN_TOP)
    event_id = _event_id(event, header_event_id)
    occurred = occurred_at(event.get("timestamp"), sent_at, received_at, dropped)
    if (occurred + timedelta(hours=1) < received_at - timedelta(seconds=replay_window_s)
            or occurred > received_at + FUTURE_SLACK):
        raise ReportRejected("outside_replay_window", "the event's time is outside the accepted window",
                             field="timestamp", status=422)
    report = _report(event, dropped, allowed, policy, pseudonymize, occurred, _Ids(project_id, event_id,
                                                                                   policy_digest, level))
    _count_not_allowed(report, allowed, dropped)
    counts = Counter({(path if path in DROPPABLE_PATHS else UNKNOWN, reason): n
                      for (path, reason), n in dropped.counts.items()})
    return MappedEvent(report, event_id, counts)


@dataclass(frozen=True)
class _Ids:
    project_id: str
    event_id: str
    policy_digest: str
    level: str


def _event_id(event: Mapping[str, Any], header_event_id: str | None) -> str:
    event_id = header_event_id
    if event.get("event_id") is not None:
        own = normalize_event_id(event["event_id"])
        if header_event_id is not None and own != header_event_id:
            raise ReportRejected("event_id_mismatch", "the event's id differs from the envelope header's",
                                 field="event_id")
        event_id = own
    if event_id is None:
        raise ReportRejected("missing_event_id", "the event has no event_id", field="event_id")
    return event_id


def _report(event: Mapping[str, Any], dropped: Dropped, allowed: Collection[str], policy: Policy,
            pseudonymize: Callable[[str], str] | None, occurred: datetime, ids: _Ids) -> Report:
    values = [v for v in as_list(obj(event.get("exception")).get("values")) if isinstance(v, dict)]
    threads = as_list(obj(event.get("threads")).get("values"))
    if threads:
        dropped.add("threads")  # only one thread's frames are read
    root = AppRoot(_all_frames(event, values, threads))
    logger = messages.logger_of(event.get("logger"), dropped)
    if messages.is_message_event(event, values):
        template = messages.template_of(event, values, dropped)
        if template is None and not values:
            raise EventSkipped("not_an_error_event")
        raw_frames = frames_of(values[-1], []) if values else []
        raw_frames = raw_frames or _message_frames(event, threads)
        title, message, chain = messages.message_title(template, logger, allowed, policy), None, None
        caught = exceptions.Caught("logging" if logger else "manual", True)
        error_code = None
    else:
        messages.not_allowlisted_message_parts(event, dropped)
        top, template = values[-1], None
        raw_frames = frames_of(top, threads)
        title, chain = exceptions.crash_type(top, dropped), exceptions.chain_of(values, root, dropped)
        found = text(top.get("value"))
        message = cut(found, _TEXT) if found else None
        caught, error_code = exceptions.mechanism_of(top, dropped), exceptions.error_code(top)
    stack, kept = stack_of(raw_frames, root, LIMITS["max_frames"], dropped)
    env_contexts = obj(event.get("contexts"))
    environment = contexts.environment(env_contexts, dropped)
    tag_rule = policy.fields.get("tags")
    return Report(
        schema_version=SCHEMA_VERSION, policy_digest=ids.policy_digest, consent_level=ids.level,
        report_id=report_id_for(ids.event_id, ids.project_id), crash_type=title,
        fingerprint=compute_fingerprint(title, stack.frames if stack else ()), error_code=error_code,
        mechanism=caught.kind, stack=stack, chain=chain, occurred_hour=occurred.strftime("%Y-%m-%dT%H:00Z"),
        release=scope.short_text(event.get("release"), 128, "release", dropped), environment=environment,
        install_id=scope.install_id_of(event.get("user"), pseudonymize, dropped), message=message,
        breadcrumbs=scope.breadcrumbs_of(event.get("breadcrumbs"), occurred, dropped),
        dist=scope.short_text(event.get("dist"), 64, "dist", dropped),
        deployment=scope.short_text(event.get("environment"), 64, "environment", dropped),
        severity=messages.severity_of(event.get("level"), dropped), logger=logger,
        platform=contexts.platform(event.get("platform")), handled=caught.handled,
        device_class=contexts.device_class(env_contexts, environment),
        transaction=scope.short_text(event.get("transaction") or event.get("culprit"), _NAME, "transaction", dropped),
        tags=scope.tags_of(event.get("tags"), tag_rule.keys if tag_rule else (), dropped),
        grouping=scope.grouping_of(event.get("fingerprint"), dropped), message_template=template,
        source_context=source_context(kept, dropped))


def _message_frames(event: Mapping[str, Any], threads: list[Any]) -> list[Any]:
    """A message's stack (``attach_stacktrace``): top-level, else the current or first thread's."""
    frames = as_list(obj(event.get("stacktrace")).get("frames"))
    if frames:
        return frames
    chosen = next((obj(t) for t in threads if obj(t).get("current") or obj(t).get("crashed")), None)
    chosen = chosen if chosen is not None else (obj(threads[0]) if threads else {})
    return as_list(obj(chosen.get("stacktrace")).get("frames"))


def _all_frames(event: Mapping[str, Any], values: Sequence[Mapping[str, Any]], threads: list[Any]) -> list[Any]:
    """Every frame of the event (capped), for the app root."""
    frames: list[Any] = []
    for value in values[-1 - LIMITS["max_chain"]:]:
        frames += as_list(obj(value.get("stacktrace")).get("frames"))[-200:]
    for thread in threads[:64]:
        frames += as_list(obj(obj(thread).get("stacktrace")).get("frames"))[-200:]
    frames += as_list(obj(event.get("stacktrace")).get("frames"))[-200:]
    return [f for f in frames if isinstance(f, dict)]


def _count_not_allowed(report: Report, allowed: Collection[str], dropped: Dropped) -> None:
    for name in report.present_fields():
        if name not in allowed and name not in REQUIRED_FIELDS:
            dropped.add(name, LEVEL_TOO_LOW)
    if "message" not in allowed and report.chain and any(c.message is not None for c in report.chain):
        dropped.add("chain.message", LEVEL_TOO_LOW)
