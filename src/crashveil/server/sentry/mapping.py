"""One Sentry error event -> one crashveil ``Report``, by allowlist.

Only these parts of an event are read (everything else is never copied, and each dropped
part is named in ``MappedEvent.dropped`` under a fixed path, never an attacker's key):

==============================  ===================================================
Sentry                          crashveil ``Report``
==============================  ===================================================
``event_id``                    ``report_id`` (as a UUID; see :func:`report_id_for`)
``exception.values[-1]``        ``crash_type`` (``module.Type``), ``message`` (its value),
                                ``mechanism``, ``error_code``, ``stack``
``exception.values[:-1]``       ``chain`` (innermost cause first, as the SDK does)
frames                          ``file`` (relative path; URLs lose host and query),
                                ``function``, ``line``, ``in_app``. ``vars``, context
                                lines, ``abs_path`` when a relative name exists,
                                addresses and the rest are dropped.
``threads`` (crashed thread)    the stack, when the exception has none (native, Java)
``release``                     ``release``
``contexts.os/runtime/device``  ``environment`` (OS family and major version, runtime
                                name from a list of known ones, else ``other``, and
                                major.minor, architecture); nothing else
``timestamp`` (+ ``sent_at``)   ``occurred_hour`` (clock drift corrected, coarsened)
``user.id``                     ``install_id``: a keyed pseudonym, only when the
                                policy allows ``install_id`` (the caller passes
                                ``pseudonymize``)
``breadcrumbs``                 ``breadcrumbs`` (offset, category, message), later
                                removed by the allowlist unless the level allows them
==============================  ===================================================

Dropped always: ``request``, the rest of ``user`` (email, username, IP address, geo),
``tags``, ``extra``, ``server_name``, ``modules``, ``environment`` (the deployment name has
no field in wire format v1), ``fingerprint`` (grouping is the server's), ``logentry``,
other contexts, ``debug_meta``, ``sdk``, and unknown keys (counted as ``<unknown>``).

The allowlist of the consent level (``Report.restricted_to``) and the redaction of every
string that is not a strict identifier (``ingest.redaction.redact_report``: crash types and
breadcrumb categories included, since an app can name a class or set its ``__module__`` to
anything) are applied by the caller afterwards, exactly as for native reports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from crashveil.errors import ReportRejected
from crashveil.policy.fingerprint import compute_fingerprint
from crashveil.wire import LIMITS, SCHEMA_VERSION, Breadcrumb, ChainedError, Environment, Frame, Report, Stack

__all__ = [
    "DROPPABLE_PATHS",
    "EventSkipped",
    "MappedEvent",
    "event_to_report",
    "normalize_event_id",
    "parse_timestamp",
    "report_id_for",
]

#: A crash may carry a clock this far ahead of ours (as native ingest).
FUTURE_SLACK = timedelta(hours=1)
#: Frames kept in a chained error's stack (the SDK's own limit for chains).
CHAIN_FRAMES = 16
#: A clock this far off the server's (by the envelope's ``sent_at``) is corrected (Relay does the same).
DRIFT_TOLERANCE = timedelta(seconds=60)

_NAME = LIMITS["max_name_chars"]
_TEXT = LIMITS["max_message_chars"]
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_TYPE_RE = re.compile(r"^[\w.$:<>\[\]-]{1,256}$")
_CATEGORY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_TOKEN_RE = re.compile(r"[^A-Za-z0-9 ._+-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")

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
                       "breadcrumbs", "type", "platform"))
_KNOWN_USER = frozenset(("id", "email", "username", "ip_address", "name", "geo", "segment", "data", "sentry_user"))
_KNOWN_CONTEXTS = frozenset((
    "os", "runtime", "device", "app", "browser", "trace", "culture", "gpu", "cloud_resource", "response",
    "state", "profile", "replay", "flags", "otel", "feedback", "client_os", "memory_info", "threadpool_info",
    "unity", "monitor", "spring", "missing_instrumentation", "ota_updates", "react_native_context", "character",
))
_KNOWN_OS = frozenset(("type", "name", "version", "build", "kernel_version", "raw_description", "rooted",
                       "distribution_name", "distribution_version", "distribution_pretty_name"))
_USED_FRAME = frozenset(("filename", "abs_path", "function", "module", "lineno", "in_app"))
_MECHANISMS = {
    "excepthook": "excepthook", "sys.excepthook": "excepthook", "onerror": "excepthook",
    "onunhandledrejection": "excepthook", "UncaughtExceptionHandler": "excepthook", "uncaught": "excepthook",
    "threading": "thread", "thread": "thread", "asyncio": "asyncio", "unraisablehook": "unraisable",
    "logging": "logging", "generic": "manual", "chained": None,
    "signalhandler": "native", "minidump": "native", "crashpad": "native", "breakpad": "native",
    "mach": "native", "seh": "native", "native": "native", "AppExitInfo": "native", "ANR": "native",
}
_OS_FAMILIES = {
    "linux": "Linux", "darwin": "Darwin", "macos": "Darwin", "mac os x": "Darwin", "mac os": "Darwin",
    "windows": "Windows", "android": "Android", "ios": "iOS", "ipados": "iOS", "tvos": "tvOS",
    "watchos": "watchOS", "freebsd": "FreeBSD", "openbsd": "OpenBSD", "netbsd": "NetBSD", "chrome os": "ChromeOS",
    "chromeos": "ChromeOS", "ubuntu": "Linux", "debian": "Linux", "fedora": "Linux",
}
#: Runtime (or browser) names kept as they are; any other name is stored as ``other``. An
#: allowlist, as for OS families: ``contexts.runtime.name`` is whatever the app says, and a
#: secret cut to 32 characters slips past the redactor's token detectors.
_RUNTIMES = {name.lower(): name for name in (
    "CPython", "PyPy", "IronPython", "Jython", "GraalPy", "MicroPython", "Stackless", "node", "Deno", "Bun",
    "Electron", "Hermes", "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chromium", "Firefox", "Firefox Mobile",
    "Safari", "Mobile Safari", "Edge", "Opera", "Samsung Internet", "WebKit", "Java", "OpenJDK", "Android",
    "Android Runtime", "Dalvik", "ART", ".NET", ".NET Core", ".NET Framework", "Mono", "Unity", "ruby", "jruby",
    "truffleruby", "php", "go", "rustc", "Dart", "Flutter", "Erlang", "Elixir", "swift")}
_ARCH = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "x86_64": "x86_64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "arm64e": "arm64",
    "arm64-v8a": "arm64",
    "armeabi-v7a": "arm",
    "x86": "x86",
    "i386": "x86",
    "i686": "x86",
    "armv7": "arm",
    "arm": "arm",
}

#: Every path :func:`event_to_report` may name as dropped (metrics use them as label values).
DROPPABLE_PATHS: frozenset[str] = frozenset(
    {"<unknown>"} | (_KNOWN_TOP - _USED_TOP) | {f"user.{k}" for k in _KNOWN_USER} | {"user.<unknown>"}
    | {f"contexts.{k}" for k in _KNOWN_CONTEXTS - {"os", "runtime", "device"}} | {"contexts.<unknown>"}
    | {f"contexts.os.{k}" for k in _KNOWN_OS - {"name", "version"}} | {"contexts.os.<unknown>"}
    | {"contexts.device", "contexts.runtime.other", "exception.frames.vars", "exception.frames.context",
       "exception.frames.abs_path", "exception.frames.other", "exception.mechanism.data", "exception.type",
       "exception.chain", "exception.frames.elided", "breadcrumbs.data", "breadcrumbs.elided",
       "breadcrumbs.category", "threads", "timestamp"})


class EventSkipped(Exception):
    """The event is not an error event crashveil stores; ``reason`` tells the client why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MappedEvent:
    """The report built from an event (before the level's allowlist) and what was dropped."""

    report: Report
    event_id: str
    #: (field path, reason) -> how many times the mapping left it out.
    dropped: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)


def _reject(code: str, message: str, field: str | None = None, status: int = 400) -> ReportRejected:
    return ReportRejected(code, message, field=field, status=status)


def normalize_event_id(value: Any, field: str = "event_id") -> str:
    """32 lower-case hex digits from a Sentry event id (dashes allowed); 400 otherwise."""
    if not isinstance(value, str) or len(value) > 36:
        raise _reject("bad_event_id", "expected 32 hex digits", field)
    hexid = value.replace("-", "").lower()
    if not _HEX32.match(hexid):
        raise _reject("bad_event_id", "expected 32 hex digits", field)
    return hexid


def report_id_for(event_id: str, project_id: str) -> str:
    """The report id of a Sentry event: the event id as a UUID if it is a version-4 one.

    Any other id is hashed (with the project) into a version-4-shaped UUID rather than
    replaced by a random one, so a retried event still maps to the same report and is
    stored once; the client is still answered its own ``event_id``.
    """
    text = f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"
    if _UUID4.match(text):
        return text
    raw = bytearray(hashlib.sha256(f"crashveil/sentry-event/v1\x00{project_id}\x00{event_id}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_timestamp(value: Any) -> datetime | None:
    """A Sentry timestamp (epoch seconds, or RFC 3339 text) as aware UTC; ``None`` if unreadable."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            if not -1e11 < value < 1e11:
                return None
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str) and len(value) <= 40:
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            moment = datetime.fromisoformat(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


# --- small safe readers ----------------------------------------------------------------------

def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _clean(text: str) -> str:
    """Lone surrogates replaced, control characters removed (they break columns and logs)."""
    if text.isprintable():  # no control character and no surrogate: nothing to do (the usual case)
        return text
    return _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))


def _cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if keep_end else text[: limit - 1] + "…"


def _str(value: Any) -> str | None:
    return _clean(value) if isinstance(value, str) else None


def _token(value: Any, limit: int) -> str | None:
    """A short identifier-like value (OS name, runtime name, arch), or ``None``."""
    text = _str(value)
    if not text:
        return None
    text = _TOKEN_RE.sub("", text).strip()
    return text[:limit] or None


# --- the mapping --------------------------------------------------------------------------------


class _Dropped:
    def __init__(self) -> None:
        self.paths: set[str] = set()

    def add(self, path: str) -> None:
        self.paths.add(path if path in DROPPABLE_PATHS else "<unknown>")


def event_to_report(event: Any, *, project_id: str, policy_digest: str, level: str, received_at: datetime,
                    sent_at: datetime | None = None, header_event_id: str | None = None,
                    replay_window_s: int = 7 * 86400,
                    pseudonymize: Callable[[str], str] | None = None) -> MappedEvent:
    """Build the report of one Sentry error event; see the module docstring.

    Raises:
        EventSkipped: not an error event (a transaction, a message without an exception).
        ReportRejected: the event is malformed (400) or outside the replay window (422).
    """
    if not isinstance(event, dict):
        raise _reject("bad_event", "the event is not a JSON object")
    if event.get("type") not in (None, "error", "default"):
        raise EventSkipped("not_an_error_event")
    dropped = _Dropped()
    for key in event:
        if key not in _USED_TOP:
            dropped.add(key if isinstance(key, str) and key in _KNOWN_TOP else "<unknown>")

    event_id = header_event_id
    if event.get("event_id") is not None:
        own = normalize_event_id(event["event_id"])
        if header_event_id is not None and own != header_event_id:
            raise _reject("event_id_mismatch", "the event's id differs from the envelope header's", "event_id")
        event_id = own
    if event_id is None:
        raise _reject("missing_event_id", "the event has no event_id", "event_id")

    values = [v for v in _list(_obj(event.get("exception")).get("values")) if isinstance(v, dict)]
    if not values:
        raise EventSkipped("not_an_error_event")
    if len(values) > 1 + LIMITS["max_chain"]:
        dropped.add("exception.chain")
    top = values[-1]
    threads = _list(_obj(event.get("threads")).get("values"))
    if threads:
        dropped.add("threads")  # only a crashed thread's frames are read, below

    crash_type = _crash_type(top, dropped)
    stack = _stack(top, threads, LIMITS["max_frames"], dropped)
    chain = []
    for value in reversed(values[-1 - LIMITS["max_chain"]:-1]):
        mechanism = _obj(value.get("mechanism"))
        relation: Literal["cause", "context"] = "cause" if mechanism.get("source") == "__cause__" else "context"
        message = _str(value.get("value"))
        chain.append(ChainedError(
            relation=relation, crash_type=_crash_type(value, dropped), error_code=_error_code(mechanism),
            message=_cut(message, _TEXT) if message else None,
            stack=_stack(value, [], CHAIN_FRAMES, dropped)))
    mechanism = _obj(top.get("mechanism"))
    if mechanism.get("data") or mechanism.get("meta"):
        dropped.add("exception.mechanism.data")
    message = _str(top.get("value"))

    occurred = _occurred(event.get("timestamp"), sent_at, received_at, dropped)
    if (occurred + timedelta(hours=1) < received_at - timedelta(seconds=replay_window_s)
            or occurred > received_at + FUTURE_SLACK):
        raise _reject("outside_replay_window", "the event's time is outside the accepted window", "timestamp",
                      status=422)

    release = _str(event.get("release"))
    report = Report(
        schema_version=SCHEMA_VERSION,
        policy_digest=policy_digest,
        consent_level=level,
        report_id=report_id_for(event_id, project_id),
        crash_type=crash_type,
        fingerprint=compute_fingerprint(crash_type, stack.frames if stack else ()),
        error_code=_error_code(mechanism),
        mechanism=_MECHANISMS.get(str(mechanism.get("type"))) if mechanism.get("type") else None,  # type: ignore[arg-type]
        stack=stack,
        chain=tuple(chain) or None,
        occurred_hour=occurred.strftime("%Y-%m-%dT%H:00Z"),
        release=_cut(release, 128) if release else None,
        environment=_environment(_obj(event.get("contexts")), dropped),
        install_id=_install_id(event.get("user"), pseudonymize, dropped),
        message=_cut(message, _TEXT) if message else None,
        breadcrumbs=_breadcrumbs(event.get("breadcrumbs"), occurred, dropped),
    )
    return MappedEvent(report, event_id, Counter((path, "not_allowlisted") for path in dropped.paths))


def _crash_type(value: Mapping[str, Any], dropped: _Dropped) -> str:
    name = _str(value.get("type")) or "Error"
    module = _str(value.get("module"))
    if module and module not in ("builtins", "__main__", "exceptions") and not name.startswith(module + "."):
        name = f"{module}.{name}"
    if not _TYPE_RE.match(name):
        dropped.add("exception.type")
        return "UnknownError"
    return name


def _error_code(mechanism: Mapping[str, Any]) -> str | None:
    meta = _obj(mechanism.get("meta"))
    for prefix, key in (("signal", "signal"), ("errno", "errno")):
        number = _obj(meta.get(key)).get("number")
        if isinstance(number, int) and not isinstance(number, bool) and abs(number) < 10**10:
            return f"{prefix}:{number}"
    return None


def _frames_of(value: Mapping[str, Any], threads: list[Any]) -> list[Any]:
    frames = _list(_obj(value.get("stacktrace")).get("frames"))
    if frames or not threads:
        return frames
    thread_id = value.get("thread_id")
    chosen = None
    for thread in threads:
        thread = _obj(thread)
        if (thread_id is not None and thread.get("id") == thread_id) or (thread_id is None and thread.get("crashed")):
            chosen = thread
            break
    return _list(_obj(_obj(chosen).get("stacktrace")).get("frames"))


def _stack(value: Mapping[str, Any], threads: list[Any], limit: int, dropped: _Dropped) -> Stack | None:
    raw = [f for f in _frames_of(value, threads) if isinstance(f, dict)][-1000:]
    if not raw:
        return None
    any_in_app = any(f.get("in_app") is True for f in raw)
    frames: list[Frame] = []
    elided = 0
    for index, frame in enumerate(raw):
        if frame.get("vars"):
            dropped.add("exception.frames.vars")
        if any(k in frame for k in ("context_line", "pre_context", "post_context")):
            dropped.add("exception.frames.context")
        if any(k not in _USED_FRAME for k in frame if k not in ("vars", "context_line", "pre_context", "post_context")):
            dropped.add("exception.frames.other")
        in_app = frame.get("in_app") is True
        # As the crashveil SDK does: library frames go, except the innermost. A stack with no
        # frame marked in-app (native, some JavaScript) is kept whole: nothing tells them apart.
        if any_in_app and not in_app and index != len(raw) - 1:
            elided += 1
            continue
        frames.append(Frame(file=_frame_file(frame, dropped), function=_frame_function(frame),
                            line=_line(frame.get("lineno")), in_app=in_app))
    if len(frames) > limit:
        head = limit // 4
        elided += len(frames) - limit
        frames = frames[:head] + frames[-(limit - head):]
    if elided:
        dropped.add("exception.frames.elided")
    return Stack(frames=tuple(frames), elided=min(elided, 1_000_000))


def _line(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, min(value, 10_000_000))
    return 0


def _frame_function(frame: Mapping[str, Any]) -> str:
    name = _str(frame.get("function")) or _str(frame.get("symbol")) or "<unknown>"
    return _cut(name, _NAME)


def _frame_file(frame: Mapping[str, Any], dropped: _Dropped) -> str:
    """A module-relative path: ``filename`` when relative, else one derived from ``module``,
    else the absolute path (its user part is removed by redaction, kind ``path``)."""
    filename = _str(frame.get("filename")) or ""
    abs_path = _str(frame.get("abs_path")) or ""
    module = _str(frame.get("module")) or ""
    if abs_path and abs_path != filename:
        dropped.add("exception.frames.abs_path")
    path = filename or abs_path
    if _URL_RE.match(path):  # JavaScript: https://host/static/app.js?v=1 -> static/app.js
        path = _URL_RE.sub("", path).split("?", 1)[0].split("#", 1)[0].lstrip("/")
    elif filename and module and "/" not in filename and "\\" not in filename and "." in module:
        # Java and friends: module com.example.Main, filename Main.java -> com/example/Main.java
        package, _, last = module.rpartition(".")
        if filename.split(".", 1)[0] == last.split("$", 1)[0]:
            path = package.replace(".", "/") + "/" + filename
    elif not path and module:
        path = module.replace(".", "/")
    if not path:
        package = _str(frame.get("package")) or ""
        path = package.replace("\\", "/").rsplit("/", 1)[-1] or "<unknown>"
    return _cut(path, _NAME, keep_end=True)


def _occurred(value: Any, sent_at: datetime | None, received_at: datetime, dropped: _Dropped) -> datetime:
    moment = parse_timestamp(value) if value is not None else None
    if moment is None:
        if value is not None:
            dropped.add("timestamp")
        return received_at
    if sent_at is not None and abs(received_at - sent_at) > DRIFT_TOLERANCE:
        moment += received_at - sent_at
    return moment


def _environment(contexts: Mapping[str, Any], dropped: _Dropped) -> Environment | None:
    for key in contexts:
        if key not in ("os", "runtime", "device"):
            dropped.add(f"contexts.{key}" if key in _KNOWN_CONTEXTS else "contexts.<unknown>")
    os_ctx = _obj(contexts.get("os"))
    runtime = _obj(contexts.get("runtime"))
    device = _obj(contexts.get("device"))
    browser = _obj(contexts.get("browser"))
    for key in os_ctx:
        if key not in ("name", "version"):
            dropped.add(f"contexts.os.{key}" if key in _KNOWN_OS else "contexts.os.<unknown>")
    if any(key != "arch" for key in device):
        dropped.add("contexts.device")
    if any(key not in ("name", "version") for key in runtime):
        dropped.add("contexts.runtime.other")
    if not os_ctx and not runtime and not browser:
        return None
    os_name = _token(os_ctx.get("name"), 32)
    family = _OS_FAMILIES.get(os_name.lower(), "other") if os_name else "unknown"
    version = _str(os_ctx.get("version")) or ""
    major = "".join(ch for ch in version.split(".")[0] if ch.isdigit())[:8] or "unknown"
    impl_source = runtime if runtime else browser
    impl_raw = _token(impl_source.get("name"), 64)
    impl = _RUNTIMES.get(impl_raw.lower(), "other") if impl_raw else "unknown"
    match = re.match(r"^\s*v?(\d{1,4})(?:\.(\d{1,4}))?", _str(impl_source.get("version")) or "")
    runtime_version = (f"{match.group(1)}.{match.group(2)}" if match and match.group(2) else
                       match.group(1) if match else "unknown")
    arch_raw = _token(device.get("arch"), 32)
    arch = _ARCH.get(arch_raw.lower(), "other") if arch_raw else "unknown"
    return Environment(os_family=family, os_version=major, python_impl=impl, python_version=runtime_version,
                       arch=arch)


def _install_id(user: Any, pseudonymize: Callable[[str], str] | None, dropped: _Dropped) -> str | None:
    user = _obj(user)
    for key in user:
        if key != "id":
            dropped.add(f"user.{key}" if key in _KNOWN_USER else "user.<unknown>")
    raw = user.get("id")
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    if pseudonymize is None:
        dropped.add("user.id")
        return None
    text = _clean(str(raw))[:256]
    return pseudonymize(text) if text else None


def _breadcrumbs(value: Any, occurred: datetime, dropped: _Dropped) -> tuple[Breadcrumb, ...] | None:
    crumbs = value.get("values") if isinstance(value, dict) else value
    items = [c for c in _list(crumbs) if isinstance(c, dict)]
    if not items:
        return None
    limit = LIMITS["max_breadcrumbs"]
    if len(items) > limit:
        dropped.add("breadcrumbs.elided")
        items = items[-limit:]
    result = []
    for crumb in items:
        if crumb.get("data"):
            dropped.add("breadcrumbs.data")
        when = parse_timestamp(crumb.get("timestamp"))
        offset = int((occurred - when).total_seconds()) if when is not None else 0
        category = _str(crumb.get("category")) or _str(crumb.get("type")) or "default"
        if not _CATEGORY_RE.match(category):
            dropped.add("breadcrumbs.category")
            category = "other"
        message = _str(crumb.get("message")) or ""
        result.append(Breadcrumb(offset_s=max(0, min(offset, 86_400)), category=category,
                                 message=_cut(message, _TEXT)))
    return tuple(result)


def with_fingerprint(report: Report) -> Report:
    """``report`` with the fingerprint recomputed from its (redacted) stack."""
    frames = report.stack.frames if report.stack is not None else ()
    return dataclasses.replace(report, fingerprint=compute_fingerprint(report.crash_type, frames))
