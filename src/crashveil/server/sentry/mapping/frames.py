"""Stack frames of a Sentry event: the app's own frames, with paths relative to the app's root.

A frame's file is what grouping and the dashboard see, so it must not depend on where the
app is installed: ``/srv/releases/v1/app/src/cart.js`` and ``/srv/releases/v2/app/src/cart.js``
are the same file. The rules, in order (as Sentry's in-app rules and Bugsink's stack
normalisation do it):

1. a URL loses scheme, host, query and fragment (``https://shop/static/app.js?v=1`` ->
   ``static/app.js``; ``app:///src/x.js`` -> ``src/x.js``);
2. a package boundary keeps only what follows it: ``node_modules/``, ``site-packages/``,
   ``dist-packages/`` (``/srv/app/node_modules/express/lib/router.js`` ->
   ``node_modules/express/lib/router.js``);
3. a relative ``filename`` is kept (sentry-python sends paths relative to ``sys.path``);
   Java-style ``module`` + ``Main.java`` becomes ``com/example/Main.java``;
4. any other absolute path loses the app root: the directory before a ``node_modules``
   boundary of the event that holds every in-app file, else the longest directory prefix
   common to the event's absolute in-app paths. Both depend only on the stack, never on the install location, so
   the same stack gives the same files (and fingerprint) in every deployment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from crashveil.server.sentry.mapping.read import (
    NOT_ALLOWLISTED,
    TOO_LARGE,
    Dropped,
    as_list,
    clean,
    cut,
    obj,
    text,
)
from crashveil.wire import LIMITS, Frame, Stack
from crashveil.wire.report import SourceLine

__all__ = ["FRAME_PATHS", "AppRoot", "frames_of", "source_context", "stack_of"]

_NAME = LIMITS["max_name_chars"]
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_BOUNDARIES = ("node_modules/", "site-packages/", "dist-packages/")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")
_USED_FRAME = frozenset(("filename", "abs_path", "function", "module", "lineno", "in_app", "context_line",
                         "pre_context", "post_context", "vars"))
#: Longest source line kept (``source_context``).
SOURCE_LINE_CHARS = 256

#: Every path this module may name as dropped.
FRAME_PATHS = frozenset(("exception.frames.vars", "exception.frames.context", "exception.frames.abs_path",
                         "exception.frames.other", "exception.frames.elided"))


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or bool(_WINDOWS_DRIVE.match(path))


class AppRoot:
    """The app's root directory in one event, found from all its frames (see the module docstring)."""

    __slots__ = ("root",)

    def __init__(self, frames: Iterable[Mapping[str, Any]]) -> None:
        boundary_roots: set[str] = set()
        in_app: list[str] = []
        for frame in frames:
            raw = frame.get("filename") or frame.get("abs_path")  # the path frame_file reads
            if type(raw) is not str or not (raw[:1] in ("/", "\\") or raw[1:2] == ":"):
                continue  # relative (sentry-python's filename), a URL, or nothing: no root in it
            path = _slashes(clean(raw))
            if not _is_absolute(path):
                continue
            index = path.rfind("/node_modules/")
            if index >= 0:
                boundary_roots.add(path[: index + 1])
            elif frame.get("in_app") is True:
                in_app.append(path)
        # The shortest package root that holds every in-app file (an app's node_modules, not a
        # nested one, nor one linked in from elsewhere); else the in-app files' common directory.
        holding = [root for root in boundary_roots if all(path.startswith(root) for path in in_app)]
        if holding:
            self.root: str | None = min(holding, key=len)
        elif in_app:
            self.root = _common_directory([path.rsplit("/", 1)[0] + "/" for path in in_app])
        else:
            self.root = None

    def relative(self, path: str) -> str:
        if self.root and path.startswith(self.root):
            return path[len(self.root):]
        return path


def _common_directory(directories: list[str]) -> str | None:
    first, last = min(directories), max(directories)
    end = 0
    for index, (a, b) in enumerate(zip(first, last, strict=False)):
        if a != b:
            break
        if a == "/":
            end = index + 1
    return first[:end] if end > 1 else None


def _inside_package(path: str) -> str | None:
    """What follows a package boundary (``node_modules/`` itself kept), or ``None``."""
    for boundary in _BOUNDARIES:
        index = path.rfind("/" + boundary)
        if index >= 0:
            return path[index + 1 + (0 if boundary == "node_modules/" else len(boundary)):]
    return None


def frame_file(frame: Mapping[str, Any], root: AppRoot, dropped: Dropped) -> str:
    """The frame's file relative to the app (see the module docstring)."""
    filename = text(frame.get("filename")) or ""
    abs_path = text(frame.get("abs_path")) or ""
    module = text(frame.get("module")) or ""
    if abs_path and abs_path != filename:
        dropped.add("exception.frames.abs_path")
    path = _slashes(filename or abs_path)
    if _URL_RE.match(path):  # JavaScript: https://host/static/app.js?v=1 -> static/app.js
        path = _URL_RE.sub("", path).split("?", 1)[0].split("#", 1)[0].lstrip("/")
    inside = _inside_package(path) if ("_modules/" in path or "-packages/" in path) else None
    if inside is not None:
        path = inside
    else:
        if _is_absolute(path):
            path = root.relative(path)
        elif filename and module and "/" not in filename and "." in module and "." in filename:
            # Java and friends: module com.example.Main, filename Main.java -> com/example/Main.java
            package, _, last = module.rpartition(".")
            if filename.split(".", 1)[0] == last.split("$", 1)[0]:
                path = package.replace(".", "/") + "/" + filename
    if not path and module:
        path = module.replace(".", "/")
    if not path:
        package = _slashes(text(frame.get("package")) or "")
        path = package.rsplit("/", 1)[-1] or "<unknown>"
    return cut(path, _NAME, keep_end=True)


def frames_of(value: Mapping[str, Any], threads: list[Any]) -> list[Any]:
    """An exception's frames, or (native, Java) those of its thread, or of the crashed thread."""
    frames = as_list(obj(value.get("stacktrace")).get("frames"))
    if frames or not threads:
        return frames
    thread_id = value.get("thread_id")
    chosen = None
    for thread in threads:
        thread = obj(thread)
        if (thread_id is not None and thread.get("id") == thread_id) or (thread_id is None and thread.get("crashed")):
            chosen = thread
            break
    return as_list(obj(obj(chosen).get("stacktrace")).get("frames"))


def _line(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, min(value, 10_000_000))
    return 0


def _function(frame: Mapping[str, Any]) -> str:
    name = text(frame.get("function")) or text(frame.get("symbol")) or "<unknown>"
    return cut(name, _NAME)


def _note_dropped_parts(frame: Mapping[str, Any], dropped: Dropped) -> None:
    if frame.get("vars"):
        dropped.add("exception.frames.vars")
    if frame.get("pre_context") or frame.get("post_context"):
        dropped.add("exception.frames.context")
    if any(key not in _USED_FRAME for key in frame):
        dropped.add("exception.frames.other")


def stack_of(raw_frames: list[Any], root: AppRoot, limit: int,
             dropped: Dropped) -> tuple[Stack | None, list[Mapping[str, Any]]]:
    """The trimmed stack of ``raw_frames`` and the raw frames it kept (for their source lines).

    As the crashveil SDK does: library frames go, except the innermost. A stack with no frame
    marked in-app (native, some JavaScript) is kept whole: nothing tells them apart.
    """
    raw = [f for f in raw_frames if isinstance(f, dict)][-1000:]
    if not raw:
        return None, []
    any_in_app = any(f.get("in_app") is True for f in raw)
    kept: list[Mapping[str, Any]] = []
    elided = 0
    for index, frame in enumerate(raw):
        _note_dropped_parts(frame, dropped)
        if any_in_app and frame.get("in_app") is not True and index != len(raw) - 1:
            elided += 1
            continue
        kept.append(frame)
    if len(kept) > limit:
        head = limit // 4
        elided += len(kept) - limit
        kept = kept[:head] + kept[-(limit - head):]
    if elided:
        dropped.add("exception.frames.elided", TOO_LARGE, elided)
    frames = tuple(Frame(file=frame_file(f, root, dropped), function=_function(f), line=_line(f.get("lineno")),
                         in_app=f.get("in_app") is True) for f in kept)
    return Stack(frames=frames, elided=min(elided, 1_000_000)), kept


def source_context(kept: list[Mapping[str, Any]], dropped: Dropped) -> tuple[SourceLine, ...] | None:
    """The ``context_line`` of each kept in-app frame; a library frame's line is dropped."""
    lines = []
    for index, frame in enumerate(kept):
        line = text(frame.get("context_line"))
        if line is None or not line.strip():
            continue
        if frame.get("in_app") is not True:
            dropped.add("exception.frames.context", NOT_ALLOWLISTED)
            continue
        stripped = line.strip()
        if len(stripped) > SOURCE_LINE_CHARS:
            dropped.add("exception.frames.context", TOO_LARGE)
        lines.append(SourceLine(frame=index, line=cut(stripped, SOURCE_LINE_CHARS)))
    return tuple(lines) or None
