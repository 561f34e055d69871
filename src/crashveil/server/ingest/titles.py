"""What names a crash group in the triage list, taken at grouping time from the report the
server already validated and redacted: the culprit, the in-app modules and a message template.

- **culprit**: the innermost in-app frame, ``module.function`` (``app.billing.charge``);
  ``None`` when no frame is in-app.
- **modules**: the stack's in-app modules, innermost first, each once (the free-text search
  looks at them).
- **message template**: the report's ``message_template`` (Sentry's logged messages) or, for
  an exception, its ``message``, both already redacted by the server (``ingest.redaction``),
  then made a template: quoted values become ``<str>``, numbers ``<n>``, long hex or base64
  runs ``<id>``, whitespace one space, at most :data:`MAX_TEMPLATE` characters. So the title
  shows the shape of the message ("invalid literal for int() with base <n>: <str>"), not the
  values a user typed. A report carries either only at a consent level that allows it.

For the group page (migration 0016):

- **signature**: the frames the fingerprint is made of (``policy.fingerprint``: the in-app
  frames, or the innermost frame when none is), as JSON ``[[module, function, in_app], ...]``,
  outermost first: code names only, never a path or a line;
- **source lines**: the report's ``source_context`` lines (already redacted by the server)
  of those frames, as JSON ``[[signature index, line number, text], ...]``; ``None`` when the
  report carries none (its consent level or the policy left them out).

Which role sees which part is the dashboard's business (``dashboard.triage.titles``), by the
policy's field access: the culprit and modules come from ``stack``, the template from
``message`` / ``message_template``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from crashveil.policy.fingerprint import module_of
from crashveil.wire import Frame, Report

__all__ = ["MAX_CULPRIT", "MAX_MODULES", "MAX_TEMPLATE", "TitleParts", "message_template", "source_lines",
           "title_parts"]

MAX_CULPRIT = 256
MAX_MODULES = 512
MAX_TEMPLATE = 200

_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"")
_LONG_ID = re.compile(r"\b(?=[0-9A-Za-z_-]*\d)[0-9A-Fa-f-]{12,}\b|\b[A-Za-z0-9+/_-]{24,}={0,2}")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class TitleParts:
    """The parts of a group's title a report gives (see the module docstring)."""

    culprit: str | None
    modules: str | None
    message: str | None
    signature: str | None = None


def message_template(text: str | None) -> str | None:
    """The template of an already redacted message (``None`` for no or an empty message)."""
    if text is None:
        return None
    text = _QUOTED.sub("<str>", text[:4 * MAX_TEMPLATE])
    text = _LONG_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    text = _SPACE.sub(" ", text).strip()
    if not text:
        return None
    return text if len(text) <= MAX_TEMPLATE else text[:MAX_TEMPLATE - 1] + "…"


def title_parts(report: Report) -> TitleParts:
    """The title parts of ``report`` (memoised by the identity of its frames, as the
    fingerprint is: the ingest path hands one tuple to every report with that stack)."""
    frames = report.stack.frames if report.stack is not None else ()
    hit = _MEMO.get(id(frames))
    if hit is None or hit[0] is not frames:
        if len(_MEMO) >= _MEMO_ENTRIES:
            _MEMO.clear()
        hit = _MEMO[id(frames)] = (frames, *_stack_parts(frames), _signature(frames))
    text = report.message_template if report.message_template is not None else report.message
    return TitleParts(hit[1], hit[2], message_template(text), hit[3])


def _signature_frames(frames: tuple[Frame, ...]) -> list[int]:
    """Indexes into ``frames`` of the fingerprint's material (``compute_fingerprint``)."""
    chosen = [i for i, frame in enumerate(frames) if frame.in_app]
    return chosen if chosen or not frames else [len(frames) - 1]


def _signature(frames: tuple[Frame, ...]) -> str | None:
    if not frames:
        return None
    return json.dumps([[module_of(frames[i].file), frames[i].function, frames[i].in_app]
                       for i in _signature_frames(frames)], separators=(",", ":"))


def source_lines(report: Report) -> str | None:
    """The report's source lines of its signature's in-app frames (see the module docstring)."""
    if not report.source_context or report.stack is None:
        return None
    frames = report.stack.frames
    position = {index: n for n, index in enumerate(_signature_frames(frames)) if frames[index].in_app}
    lines = [[position[s.frame], frames[s.frame].line, s.line] for s in report.source_context if s.frame in position]
    return json.dumps(sorted(lines), separators=(",", ":")) if lines else None


def _stack_parts(frames: tuple[Frame, ...]) -> tuple[str | None, str | None]:
    culprit = None
    modules: list[str] = []
    for frame in reversed(frames):
        if not frame.in_app:
            continue
        module = module_of(frame.file)
        if culprit is None:
            culprit = f"{module}.{frame.function}"[:MAX_CULPRIT]
        if module not in modules:
            modules.append(module)
    joined = " ".join(modules)[:MAX_MODULES] if modules else None
    return culprit, joined


_MEMO: dict[int, tuple[tuple[Frame, ...], str | None, str | None, str | None]] = {}
_MEMO_ENTRIES = 16_384
