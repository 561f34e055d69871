"""Server-side redaction of a report: every free-text string through the policy's detectors.

The SDK redacts before it sends; the server redacts again (it cannot trust the sender) and
counts what it found, by fixed field name and detector. Most strings of a report repeat
across reports (a 30-frame report's stack frames are ~60 of its ~67 strings), so both the
detector results (:func:`memoised_redactor`) and whole redacted frames, stacks and
environments (``frame_memo``, one per policy) are memoised. Memo keys are BLAKE2b digests,
never the text, so no unredacted string outlives its request.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import msgspec

from crashveil.server.ingest.decode import replace_fields
from crashveil.textsafe import normalise_free_text
from crashveil.wire import Report
from crashveil.wire.report import Environment, Frame, Stack

if TYPE_CHECKING:
    from crashveil.policy import Policy

__all__ = ["REDACT_MEMO_ENTRIES", "REDACT_MEMO_MAX_CHARS", "Redact", "RedactionMemo", "memoised_redactor",
           "redact_report"]

#: Redaction results kept per policy (see :func:`memoised_redactor`), and the longest text memoised.
REDACT_MEMO_ENTRIES = 65_536
REDACT_MEMO_MAX_CHARS = 512

#: ``redact(text, kind)`` -> (redacted text, hits by detector).
Redact = Callable[[str, str], tuple[str, Mapping[str, int]]]
Hits = Counter[tuple[str, str]]
#: Hits as the memo keeps them: ((field, detector), count) pairs.
MemoHits: TypeAlias = tuple[tuple[tuple[str, str], int], ...]


@dataclass
class RedactionMemo:
    """One policy's redacted parts of reports, keyed by digests of their strings (never the text).

    ``frames``: a frame by (field prefix, digest, line, in app); ``stacks``: a stack's frames
    by (field prefix, digest of the frames); ``environments``: an environment by its digest
    (``None``: redaction changed nothing). Each entry keeps the hits its redaction found.
    At :data:`REDACT_MEMO_ENTRIES` entries in all, it starts over.
    """

    frames: dict[tuple[str, bytes, int, bool], tuple[Frame, MemoHits]] = field(default_factory=dict)
    stacks: dict[tuple[str, bytes], tuple[tuple[Frame, ...], MemoHits]] = field(default_factory=dict)
    environments: dict[bytes, tuple[Environment | None, MemoHits]] = field(default_factory=dict)

    def make_room(self) -> None:
        """Clear everything if the memo is full (called before each insertion)."""
        if len(self.frames) + len(self.stacks) + len(self.environments) >= REDACT_MEMO_ENTRIES:
            self.frames.clear()
            self.stacks.clear()
            self.environments.clear()


def redact_report(report: Report, redact: Redact, *,
                  frame_memo: RedactionMemo | None = None) -> tuple[Report, dict[tuple[str, str], int]]:
    """Run ``redact(text, kind)`` over every string of ``report`` that is not a strict
    identifier (those match a pattern of the wire format: digests, ids, hours, codes, levels,
    ``client_stats`` keys); free text is normalised first (``normalise_free_text``).

    Returns the redacted report and hits keyed by ``(field, detector)``, where ``field`` is a
    fixed name (``message``, ``chain.message``, ``stack.file`` ...), never an index.
    ``frame_memo`` (one per policy) keeps redacted stack frames by a digest of their
    strings, so a frame seen before costs one hash instead of two redactions; the result
    is the same.
    """
    run = _ReportRedaction(redact, frame_memo)
    changes: dict[str, Any] = {
        "crash_type": run.text(report.crash_type, "crash_type", "message"),
        "message": run.free_text(report.message, "message"),
        "comment": run.free_text(report.comment, "comment"),
        "release": run.text(report.release, "release", "message"),
        "task_name": run.text(report.task_name, "task_name", "message"),
        "stack": run.stack(report.stack, "stack"),
        "route": run.text(report.route, "route", "message"),
        "handler": run.text(report.handler, "handler", "message"),
    }
    if report.chain is not None:
        changes["chain"] = tuple(
            replace_fields(c, crash_type=run.text(c.crash_type, "chain.crash_type", "message"),
                           message=run.free_text(c.message, "chain.message"), stack=run.stack(c.stack, "chain.stack"))
            for c in report.chain)
    if report.breadcrumbs is not None:
        changes["breadcrumbs"] = tuple(
            replace_fields(b, category=run.text(b.category, "breadcrumbs.category", "message"),
                           message=run.free_text(b.message, "breadcrumbs.message"))
            for b in report.breadcrumbs)
    if report.environment is not None:
        changes["environment"] = run.environment(report.environment)
    if any(getattr(report, name) is not None for name in _APP_FIELDS):
        changes.update(_app_fields(report, run))
    return replace_fields(report, **changes), dict(run.hits)


#: Strings of the fields an app's own crash reporter sets (the Sentry bridge); native reports
#: rarely carry them, so one check skips them all.
_APP_FIELDS = ("dist", "deployment", "logger", "transaction", "tags", "grouping", "message_template",
               "source_context")


def _app_fields(report: Report, run: _ReportRedaction) -> dict[str, Any]:
    changes: dict[str, Any] = {name: run.text(getattr(report, name), name, "message")
                               for name in ("dist", "deployment", "logger", "transaction")}
    changes["message_template"] = run.free_text(report.message_template, "message_template")
    if report.tags is not None:
        changes["tags"] = tuple(dataclasses.replace(t, value=run.text(t.value, "tags.value", "message") or "")
                                for t in report.tags)
    if report.grouping is not None:
        changes["grouping"] = tuple(run.text(part, "grouping", "message") or "" for part in report.grouping)
    if report.source_context is not None:
        changes["source_context"] = tuple(replace_fields(s, line=run.text(s.line, "source_context", "message"))
                                          for s in report.source_context)
    return changes


class _ReportRedaction:
    """The redaction of one report: the redactor, the policy's memo (or ``None``), the hits."""

    __slots__ = ("redact", "memo", "hits")

    def __init__(self, redact: Redact, memo: RedactionMemo | None) -> None:
        self.redact = redact
        self.memo = memo
        self.hits: Hits = Counter()

    @overload
    def text(self, text: str, field: str, kind: str, into: Hits | None = None) -> str: ...

    @overload
    def text(self, text: str | None, field: str, kind: str, into: Hits | None = None) -> str | None: ...

    def text(self, text: str | None, field: str, kind: str, into: Hits | None = None) -> str | None:
        """``text`` redacted as ``kind``; its hits counted under ``field`` (in ``into`` if given)."""
        if text is None:
            return None
        clean, found = self.redact(text, kind)
        counter = self.hits if into is None else into
        for detector, count in found.items():
            if count:
                counter[(field, detector)] += count
        return clean

    def free_text(self, value: str | None, field: str) -> str | None:
        """Free text: normalised (line breaks kept, invisible formatting removed, other
        controls made visible), then redacted."""
        return None if value is None else self.text(normalise_free_text(value), field, "message")

    def _add(self, hits: tuple[tuple[tuple[str, str], int], ...]) -> None:
        for name, count in hits:
            self.hits[name] += count

    def frame(self, f: Frame, prefix: str) -> Frame:
        """One stack frame with its file and function redacted (memoised by their digest)."""
        if self.memo is None:
            return dataclasses.replace(f, file=self.text(f.file, f"{prefix}.file", "path"),
                                       function=self.text(f.function, f"{prefix}.function", "message"))
        key = (prefix, _digest(f.file, f.function), f.line, f.in_app)
        hit = self.memo.frames.get(key)
        if hit is None:
            own: Hits = Counter()
            done = dataclasses.replace(f, file=self.text(f.file, f"{prefix}.file", "path", own),
                                       function=self.text(f.function, f"{prefix}.function", "message", own))
            hit = (done, tuple(own.items()))
            self.memo.make_room()
            self.memo.frames[key] = hit
        self._add(hit[1])
        return hit[0]

    def stack(self, stack: Stack | None, prefix: str) -> Stack | None:
        """A stack with every frame redacted; a whole stack seen before is one memo lookup."""
        if stack is None:
            return None
        key = _stack_key(prefix, stack.frames) if self.memo is not None else None
        hit = self.memo.stacks.get(key) if self.memo is not None and key is not None else None
        if hit is None:
            before = Counter(self.hits)
            done = tuple(self.frame(f, prefix) for f in stack.frames)
            hit = (done, tuple((self.hits - before).items()))
            if self.memo is not None and key is not None:
                self.memo.make_room()
                self.memo.stacks[key] = hit
        else:
            self._add(hit[1])
        return replace_fields(stack, frames=hit[0])

    def environment(self, env: Environment) -> Environment:
        """The redacted environment; with a memo, kept there by a digest of its five
        strings (they repeat across reports: one hash instead of five redactions)."""
        key = None
        if self.memo is not None:
            texts = [getattr(env, name) for name in _field_names(env)]
            if all(type(text) is str for text in texts):
                key = _digest(*texts)
                hit = self.memo.environments.get(key)
                if hit is not None:
                    self._add(hit[1])
                    return env if hit[0] is None else hit[0]
        own: Hits = Counter()
        values = {name: self.text(getattr(env, name), f"environment.{name}", "env", own)
                  for name in _field_names(env)}
        done = replace_fields(env, **values) if any(values[name] != getattr(env, name) for name in values) else None
        self.hits.update(own)
        if self.memo is not None and key is not None:
            self.memo.make_room()
            self.memo.environments[key] = (done, tuple(own.items()))
        return env if done is None else done


def memoised_redactor(policy: Policy) -> Redact:
    """``redact(text, kind)`` under the policy's detectors, memoised.

    Redaction is a pure function of (text, kind) for one policy, and most strings of a
    report repeat across reports, so results are kept in a bounded memo. Its keys are
    BLAKE2b digests of kind and text, not the text, so no unredacted string is kept
    after its request; values are the redacted text and the hit counts. The output is
    exactly what the redactor returns.
    """
    from crashveil.redact import Redactor

    redactor = Redactor(policy.redaction.detectors, policy.redaction.placeholders)
    memo: dict[bytes, tuple[str, Mapping[str, int]]] = {}

    def run(text: str, kind: str) -> tuple[str, Mapping[str, int]]:
        if len(text) > REDACT_MEMO_MAX_CHARS:
            return redactor.redact_counted(text, kind=kind)
        key = hashlib.blake2b(f"{kind}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hit = memo.get(key)
        if hit is None:
            clean, found = redactor.redact_counted(text, kind=kind)
            hit = (clean, dict(found))
            if len(memo) >= REDACT_MEMO_ENTRIES:
                memo.clear()
            memo[key] = hit
        return hit

    return run


def _field_names(value: Environment) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _digest(*texts: str) -> bytes:
    """A 128-bit BLAKE2b digest of ``texts``, each length-prefixed (no two tuples collide by
    moving text from one string to the next)."""
    h = hashlib.blake2b(digest_size=16)
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.digest()


def _stack_key(prefix: str, frames: tuple[Frame, ...]) -> tuple[str, bytes] | None:
    """The memo key of a whole stack: a digest of its frames as JSON (unambiguous), or
    ``None`` if msgspec cannot encode it (a lone surrogate: redact frame by frame)."""
    try:
        encoded = msgspec.json.encode(frames)
    except (msgspec.EncodeError, UnicodeEncodeError, TypeError):
        return None
    return (f"{prefix}[]", hashlib.blake2b(encoded, digest_size=16).digest())
