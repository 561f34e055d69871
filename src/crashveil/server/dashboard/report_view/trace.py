"""The stack trace as Python prints it: oldest error first, the reported one last, frames
innermost last, each chained error followed by the sentence that links it to the next.

In-app frames stand on their own; consecutive library frames form one run the page folds
away (``<details>``). A frame's source line is shown only when the viewer may see
``source_context``; frames only when they may see ``stack`` (``chain`` for the chained errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crashveil.server.dashboard.report_view.text import free_text, one_line
from crashveil.wire.report import Report, Stack

__all__ = ["CAUSE", "CONTEXT", "ErrorView", "FrameRun", "FrameView", "TraceView", "trace_of"]

#: Python's words between a chained error and the one it led to.
CAUSE = "The above exception was the direct cause of the following exception:"
CONTEXT = "During handling of the above exception, another exception occurred:"

#: How the crash was caught (``Report.mechanism``), in words; the thread is named where known.
_MECHANISMS: Mapping[str, str] = {
    "excepthook": "uncaught, in the main thread (sys.excepthook)",
    "thread": "uncaught, in a thread other than the main thread (threading.excepthook)",
    "asyncio": "uncaught in an asyncio task or callback",
    "unraisable": "unraisable (raised in __del__, a finalizer or a callback)",
    "native": "a native fault (signal), read by faulthandler",
    "logging": "logged by the application",
    "manual": "reported by the application's own call",
    "rejection": "an unhandled rejection",
    "framework": "caught by a framework",
    "web": "raised while handling a web request",
    "celery": "raised in a Celery task",
    "rq": "raised in an RQ job",
    "tkinter": "raised in a Tk callback",
    "qt": "raised in a Qt slot",
    "ipython": "raised in an IPython cell",
    "multiprocessing": "raised in a child process",
    "future": "raised in a concurrent.futures future nobody retrieved",
}


@dataclass(frozen=True)
class FrameView:
    """One frame: where (file, line, function), whether it is the app's code, its source line."""

    file: str
    line: int
    function: str
    in_app: bool
    source: str | None = None


@dataclass(frozen=True)
class FrameRun:
    """Consecutive frames of one kind: in-app frames are shown, library runs folded unless ``open``."""

    in_app: bool
    frames: tuple[FrameView, ...]
    open: bool = False


@dataclass(frozen=True)
class ErrorView:
    """One error of the trace; ``then`` is the sentence leading to the next error (None: the reported one)."""

    crash_type: str | None
    error_code: str | None
    message: str | None
    runs: tuple[FrameRun, ...]
    elided: int
    frames_visible: bool
    then: str | None = None

    @property
    def frame_count(self) -> int:
        return sum(len(run.frames) for run in self.runs)


@dataclass(frozen=True)
class TraceView:
    """The errors in Python's order (the reported one last) and how the crash was caught."""

    errors: tuple[ErrorView, ...]
    mechanism: str | None

    @property
    def reported(self) -> ErrorView:
        return self.errors[-1]


def _runs(stack: Stack | None, sources: Mapping[int, str]) -> tuple[FrameRun, ...]:
    """The frames of ``stack`` in runs of in-app / library frames (innermost last)."""
    if stack is None:
        return ()
    runs: list[tuple[bool, list[FrameView]]] = []
    for index, frame in enumerate(stack.frames):
        source = sources.get(index)
        view = FrameView(one_line(frame.file), frame.line, one_line(frame.function), frame.in_app,
                         None if source is None else one_line(source.strip()))
        if runs and runs[-1][0] == frame.in_app:
            runs[-1][1].append(view)
        else:
            runs.append((frame.in_app, [view]))
    no_app_code = all(not in_app for in_app, _ in runs)
    return tuple(FrameRun(in_app, tuple(frames), open=no_app_code) for in_app, frames in runs)


def _sources(report: Report, shown: frozenset[str]) -> dict[int, str]:
    """Source lines by frame index of the main stack, if the viewer may see them."""
    if "source_context" not in shown or not report.source_context:
        return {}
    return {line.frame: line.line for line in report.source_context}


def trace_of(report: Report, shown: frozenset[str]) -> TraceView:
    """The trace of ``report`` (already cut to the viewer's fields), showing only ``shown`` fields.

    ``report.chain`` runs from the reported error's direct predecessor backwards, each
    ``relation`` saying how that error led to the one after it; Python prints the oldest first.
    """
    errors: list[ErrorView] = []
    if "chain" in shown and report.chain:
        for chained in reversed(report.chain):
            errors.append(ErrorView(
                crash_type=one_line(chained.crash_type), error_code=chained.error_code,
                message=_message(chained.message, shown), runs=_runs(chained.stack, {}),
                elided=chained.stack.elided if chained.stack else 0, frames_visible=True,
                then=CAUSE if chained.relation == "cause" else CONTEXT))
    stack = report.stack if "stack" in shown else None
    errors.append(ErrorView(
        crash_type=one_line(report.crash_type) if "crash_type" in shown else None,
        error_code=report.error_code if "error_code" in shown else None,
        message=_message(report.message, shown), runs=_runs(stack, _sources(report, shown)),
        elided=stack.elided if stack else 0, frames_visible="stack" in shown))
    mechanism = report.mechanism if "mechanism" in shown else None
    return TraceView(tuple(errors), None if mechanism is None else _MECHANISMS.get(mechanism, one_line(mechanism)))


def _message(message: str | None, shown: frozenset[str]) -> str | None:
    return free_text(message) if message is not None and "message" in shown else None

