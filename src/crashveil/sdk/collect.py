"""Turn an exception into a ``Report`` built from the policy's allowlist at one consent level.

Two steps, so the client can decide things between them:

1. :meth:`Collector.record` reads the exception once into a ``CrashRecord``: crash type,
   error code, trimmed stack, chain, and the *raw* message. Nothing here is redacted yet and
   nothing leaves memory; the record exists only to compute the fingerprint (which the
   limiter, remote config and progressive disclosure need) and to build the report.
2. :meth:`Collector.build` makes the ``Report`` for a level: only fields in
   ``policy.fields_at(level)`` are computed at all (allowlist, not denylist), every string
   passes the redactor and is cut to the wire limits, and ``Report.restricted_to`` is
   applied again as a second line.

Frames are ``(module-relative path, function, line, in_app)``: no locals, no source lines.
A frame is in-app when its file is under ``app_root`` and not in site-packages or the
standard library. In-app paths are relative to ``app_root``; other files are made relative
to the ``sys.path`` entry they were imported from (``requests/api.py``, ``json/decoder.py``);
a file under no known root keeps its base name only. No absolute path is ever produced.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from crashveil.policy.fingerprint import compute_fingerprint
from crashveil.textsafe import visible
from crashveil.wire.report import (
    CONTEXT_FIELDS,
    LIMITS,
    SCHEMA_VERSION,
    Breadcrumb,
    ChainedError,
    Environment,
    Frame,
    Report,
    Stack,
)

if TYPE_CHECKING:
    import random

    from crashveil.policy.model import Policy

__all__ = ["CrashRecord", "Collector", "error_code_of", "coarse_hour", "current_environment", "MAX_FRAMES"]

#: Frames kept per stack (the wire allows ``LIMITS["max_frames"]``); deeper stacks are elided.
MAX_FRAMES = 32
#: Frames kept per chained exception: the chain is context, the main stack is the story.
MAX_CHAIN_FRAMES = 8
_NAME_MAX = LIMITS["max_name_chars"]
_TEXT_MAX = LIMITS["max_message_chars"]
#: Raw text is cut to this before redaction (bounded work), then to the wire limit after.
_RAW_TEXT_MAX = 4 * _TEXT_MAX
_CATEGORY_MAX = 64
#: A breadcrumb category that is kept as written (after redaction); anything else is "other".
_CATEGORY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class RawChained:
    relation: str
    crash_type: str
    error_code: str | None
    message: str
    stack: Stack


#: A task name as sent: a code name (``shop.tasks.send_invoice``); one with a space, or that the
#: redactor turned into a placeholder, is left out.
_TASK_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:<>-]{0,199}")
_TASK_RETRIES_MAX = 1_000_000


@dataclass(frozen=True)
class CrashRecord:
    """One crash as read from the exception: not redacted, never written anywhere."""

    crash_type: str
    error_code: str | None
    mechanism: str
    stack: Stack
    chain: tuple[RawChained, ...]
    message: str
    fingerprint: str
    occurred_s: float
    #: ``(offset_s before the crash, category, message)``, raw, from the in-memory ring.
    breadcrumbs: tuple[tuple[float, str, str], ...] = ()
    #: ``(field, value)`` pairs an integration knows of the crash (route template, method ...),
    #: each a name in ``CONTEXT_FIELDS``; kept only where the allowlist allows the field.
    context: tuple[tuple[str, str | int], ...] = ()


class Collector:
    """Reads exceptions and builds reports for one app and policy."""

    def __init__(self, policy: Policy, *, app_root: Path, release: str | None, redactor: Any,
                 now: Callable[[], float] = time.time, rng: random.Random | None = None,
                 max_frames: int = MAX_FRAMES, digest: str | None = None) -> None:
        """``digest``: ``policy_digest(policy)`` when the caller knows it already (the client's
        consent store does), so the first crash need not compute it."""
        self.policy = policy
        if digest is None:
            from crashveil.policy.digest import policy_digest

            digest = policy_digest(policy)
        self.policy_digest = digest
        self.release = release[:128] if release else None
        self.redactor = redactor
        self.now = now
        self.rng = rng
        self.max_frames = max(2, min(max_frames, LIMITS["max_frames"]))
        self.paths = _PathMapper(app_root)

    # -- step 1 --------------------------------------------------------------------------
    def record(self, exc: BaseException, *, mechanism: str, tb: TracebackType | None = None,
               context: tuple[tuple[str, str | int], ...] = ()) -> CrashRecord:
        """Read ``exc`` (and its chain) once; ``tb`` overrides ``exc.__traceback__``; ``context``
        is what an integration knows of the crash (``CrashRecord.context``)."""
        stack = self.stack_of(_walk(tb if tb is not None else exc.__traceback__), self.max_frames)
        chain: list[RawChained] = []
        seen = {id(exc)}
        current = exc
        while len(chain) < LIMITS["max_chain"]:
            cause = current.__cause__
            if cause is not None:
                relation, nxt = "cause", cause
            elif current.__context__ is not None and not current.__suppress_context__:
                relation, nxt = "context", current.__context__
            else:
                break
            if id(nxt) in seen:
                break
            seen.add(id(nxt))
            chain.append(RawChained(relation, crash_type_of(nxt), error_code_of(nxt), _safe_str(nxt),
                                    self.stack_of(_walk(nxt.__traceback__), MAX_CHAIN_FRAMES)))
            current = nxt
        crash_type = crash_type_of(exc)
        return CrashRecord(
            crash_type=crash_type,
            error_code=error_code_of(exc),
            mechanism=mechanism,
            stack=stack,
            chain=tuple(chain),
            message=_safe_str(exc),
            fingerprint=compute_fingerprint(crash_type, stack.frames),
            occurred_s=self.now(),
            context=context,
        )

    def record_native(self, signal: tuple[str, int], frames: Sequence[tuple[str, str, int]], *,
                      occurred_s: float) -> CrashRecord:
        """A record for a native fault read from a faulthandler file (no message, no chain)."""
        name, number = signal
        stack = self.stack_of(frames, self.max_frames)
        return CrashRecord(crash_type=name, error_code=f"signal:{number}" if number else None, mechanism="native",
                           stack=stack, chain=(), message="", fingerprint=compute_fingerprint(name, stack.frames),
                           occurred_s=occurred_s)

    def stack_of(self, raw: Iterable[tuple[str, str, int]], limit: int) -> Stack:
        """Trim raw ``(filename, function, line)`` frames (outermost first) to a ``Stack``.

        Keeps the in-app frames and the frame where the crash surfaced (the innermost);
        beyond ``limit`` keeps the outermost quarter and the innermost rest.
        """
        raw = list(raw)
        frames: list[Frame] = []
        elided = 0
        for index, (filename, function, line) in enumerate(raw):
            path, in_app = self.paths.map(filename)
            if not in_app and index != len(raw) - 1:
                elided += 1
                continue
            frames.append(Frame(file=self._name(path, "path"), function=_cut(function, _NAME_MAX),
                                line=max(0, min(line or 0, 10_000_000)), in_app=in_app))
        if len(frames) > limit:
            head = limit // 4
            tail = limit - head
            elided += len(frames) - limit
            frames = frames[:head] + frames[-tail:]
        return Stack(frames=tuple(frames), elided=elided)

    # -- step 2 --------------------------------------------------------------------------
    def build(self, record: CrashRecord, level: str, *, install_id: str | None = None,
              client_stats: dict[str, int] | None = None, comment: str | None = None,
              report_id: str | None = None, allowed_fields: Sequence[str] | None = None) -> Report:
        """The report for ``record`` at consent ``level``, built from the allowlist only.

        ``allowed_fields`` narrows the policy's allowlist further (the consent store's view
        after a material policy change); it can never widen it.
        """
        allowed = set(self.policy.fields_at(level))
        if allowed_fields is not None:
            allowed &= set(allowed_fields)
        with_message = "message" in allowed
        values: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "policy_digest": self.policy_digest,
            "consent_level": level,
            "report_id": report_id or self.new_report_id(),
            "crash_type": _cut(record.crash_type, _NAME_MAX),
            "fingerprint": record.fingerprint,
        }
        if "error_code" in allowed:
            values["error_code"] = record.error_code
        if "mechanism" in allowed:
            values["mechanism"] = record.mechanism
        if "stack" in allowed:
            values["stack"] = record.stack
        if "chain" in allowed and record.chain:
            values["chain"] = tuple(
                ChainedError(relation=c.relation, crash_type=_cut(c.crash_type, _NAME_MAX),  # type: ignore[arg-type]
                             error_code=c.error_code,
                             message=self.redact_text(c.message) if with_message and c.message else None,
                             stack=c.stack if "stack" in allowed else None)
                for c in record.chain)
        if "occurred_hour" in allowed:
            values["occurred_hour"] = coarse_hour(record.occurred_s)
        if "release" in allowed and self.release:
            values["release"] = _cut(self.redactor.redact(self.release, kind="message"), 128)
        if "environment" in allowed:
            values["environment"] = current_environment()
        if "install_id" in allowed and install_id:
            values["install_id"] = install_id
        if "client_stats" in allowed and client_stats:
            values["client_stats"] = _stats(client_stats)
        if "comment" in allowed and comment:
            values["comment"] = self.redact_text(comment)
        if with_message and record.message:
            values["message"] = self.redact_text(record.message)
        if "breadcrumbs" in allowed and record.breadcrumbs:
            crumbs = record.breadcrumbs[-LIMITS["max_breadcrumbs"]:]
            values["breadcrumbs"] = tuple(self.breadcrumb(*raw) for raw in crumbs)
        for name, value in record.context:
            if name in allowed and name in CONTEXT_FIELDS and name not in values:
                kept = self._context_value(name, value)
                if kept is not None:
                    values[name] = kept
        report = Report(**values)
        return report.restricted_to(tuple(allowed))

    def _context_value(self, name: str, value: object) -> str | int | None:
        """A context field's value as it may leave: text redacted, a task name only while it
        still looks like a code name after redaction, counts bounded; anything else dropped."""
        if name == "task_name":
            if not isinstance(value, str):
                return None
            redacted = self.redactor.redact(value[:_RAW_TEXT_MAX], kind="message")
            return redacted if _TASK_NAME_RE.fullmatch(redacted) else None
        if isinstance(value, bool):
            return None
        if name == "task_retries":
            return max(0, min(value, _TASK_RETRIES_MAX)) if isinstance(value, int) else None
        if isinstance(value, str):
            return self._name(value, "message")
        return value if isinstance(value, int) else None

    def redact_text(self, text: str) -> str:
        """Redact free text (bounded input), then cut it to the wire limit."""
        return _cut(self.redactor.redact(text[:_RAW_TEXT_MAX], kind="message"), _TEXT_MAX)

    def breadcrumb(self, offset_s: float, category: str, message: str) -> Breadcrumb:
        """One raw breadcrumb as it may leave: whole seconds, redacted and cut text, a safe category."""
        category = self.redactor.redact(category[:_RAW_TEXT_MAX], kind="message")[:_CATEGORY_MAX]
        if not _CATEGORY_RE.fullmatch(category):
            category = "other"
        offset = int(offset_s) if math.isfinite(offset_s) else 0
        return Breadcrumb(offset_s=max(0, min(offset, 86_400)), category=category, message=self.redact_text(message))

    def _name(self, text: str, kind: str) -> str:
        return _cut(self.redactor.redact(text, kind=kind), _NAME_MAX)

    def new_report_id(self) -> str:
        if self.rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


# -- what an exception says about itself --------------------------------------------------

def crash_type_of(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``package.module.Name`` otherwise."""
    cls = type(exc)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "__main__", "") else f"{module}.{name}"


def error_code_of(exc: BaseException) -> str | None:
    """A machine code that often explains the crash: ``errno:2``, ``exit:3``, ``winerror:5``."""
    candidates: list[tuple[str, Any]] = []
    if isinstance(exc, SystemExit):
        candidates.append(("exit", exc.code if isinstance(exc.code, int) else (None if exc.code is None else 1)))
    if isinstance(exc, OSError):
        candidates.append(("winerror", getattr(exc, "winerror", None)))
        candidates.append(("errno", exc.errno))
    returncode = getattr(exc, "returncode", None)
    if type(exc).__name__ in ("CalledProcessError", "TimeoutExpired") and isinstance(returncode, int):
        candidates.append(("signal", -returncode) if returncode < 0 else ("exit", returncode))
    status = getattr(exc, "code", None)
    if type(exc).__name__ == "HTTPError" and isinstance(status, int):
        candidates.append(("http", status))
    for prefix, value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**10:
            return f"{prefix}:{value}"
    return None


def coarse_hour(now_s: float) -> str:
    """``2026-11-27T14:00Z``: the hour, never the minute."""
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(now_s))


_environment: Environment | None = None


def current_environment() -> Environment:
    """OS family and major version, Python implementation and major.minor, architecture."""
    global _environment
    if _environment is None:
        import platform

        family = platform.system() or sys.platform
        if sys.platform == "darwin":
            version = platform.mac_ver()[0]
        elif sys.platform == "win32":
            version = platform.release()
        else:
            version = platform.release()
        major = "".join(ch for ch in version.split(".")[0] if ch.isdigit())[:8] or "unknown"
        machine = (platform.machine() or "unknown").lower()
        machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
        _environment = Environment(
            os_family=family[:32],
            os_version=major,
            python_impl=platform.python_implementation()[:32],
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            arch=machine[:32],
        )
    return _environment


# -- paths ---------------------------------------------------------------------------------

class _PathMapper:
    """Maps absolute file names to (relative path, in_app); results cached per file name."""

    def __init__(self, app_root: Path) -> None:
        self.app_root = _norm(str(app_root))
        self._cache: dict[str, tuple[str, bool]] = {}
        self._library_roots: list[str] | None = None
        self._import_roots: list[str] | None = None

    def _roots(self) -> tuple[list[str], list[str]]:
        if self._library_roots is None or self._import_roots is None:
            import sysconfig

            library = set()
            for key in ("stdlib", "platstdlib", "purelib", "platlib"):
                with _ignored():
                    library.add(_norm(sysconfig.get_paths()[key]))
            for entry in sys.path:
                if entry and ("site-packages" in entry or "dist-packages" in entry):
                    library.add(_norm(entry))
            for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
                library.add(_norm(os.path.join(prefix, "lib")))
            imports = {_norm(entry) for entry in sys.path if entry} | library
            self._library_roots = sorted(library, key=len, reverse=True)
            self._import_roots = sorted(imports, key=len, reverse=True)
        return self._library_roots, self._import_roots

    def map(self, filename: str) -> tuple[str, bool]:
        cached = self._cache.get(filename)
        if cached is None:
            cached = self._map(filename)
            if len(self._cache) < 4096:
                self._cache[filename] = cached
        return cached

    def _map(self, filename: str) -> tuple[str, bool]:
        if not filename or filename.startswith("<"):
            return (filename or "<unknown>"), False
        path = _norm(os.path.abspath(filename))
        library, imports = self._roots()
        in_library = any(_under(path, root) for root in library)
        if _under(path, self.app_root) and not in_library and "/site-packages/" not in path:
            return path[len(self.app_root):].lstrip("/"), True
        for root in imports:
            if _under(path, root):
                return path[len(root):].lstrip("/"), False
        return path.rsplit("/", 1)[-1], False


def _norm(path: str) -> str:
    return path.replace("\\", "/").rstrip("/") or "/"


def _under(path: str, root: str) -> bool:
    return path.startswith(root + "/") if root != "/" else True


class _ignored:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], Exception)  # type: ignore[arg-type]


def _walk(tb: TracebackType | None) -> list[tuple[str, str, int]]:
    frames: list[tuple[str, str, int]] = []
    while tb is not None and len(frames) < 10_000:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, code.co_name, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _safe_str(exc: BaseException) -> str:
    """``str(exc)`` that cannot raise (a broken ``__str__`` is the app's bug, not a reason to lose the crash)."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ is the app's bug, not a reason to lose the crash
        return ""
    return text if isinstance(text, str) else ""


def _cut(text: str, limit: int) -> str:
    """A name for an identifier field: valid UTF-8, controls and bidi characters written as visible
    escapes (the server refuses them there, and would drop the whole crash), at most ``limit``."""
    text = visible(text.encode("utf-8", "replace").decode("utf-8"))  # lone surrogates fail the wire check
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stats(stats: dict[str, int]) -> dict[str, int]:
    import re

    result = {}
    for key in sorted(stats):
        value = stats[key]
        if re.match(r"^[a-z][a-z0-9_]{0,39}$", key) and isinstance(value, int) and value > 0:
            result[key] = min(value, 1_000_000_000)
        if len(result) >= LIMITS["max_client_stats"]:
            break
    return result
