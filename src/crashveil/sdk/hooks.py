"""Install the crash hooks, and always chain to the hooks they replace.

``sys.excepthook`` (main thread), ``threading.excepthook`` (threads), ``sys.unraisablehook``
(``__del__``, atexit callbacks, interpreter shutdown), asyncio's exception handler (only when
the app has imported ``asyncio`` before ``init()``: loading it ourselves would cost every app
~10 ms) and ``faulthandler`` (native faults). Each of our hooks captures inside
``suppress_internal_errors`` and then calls the previous hook, so the app's own traceback
still prints and the exit code is unchanged (sentry-python's ``_make_excepthook``).

Native faults (SIGSEGV, SIGABRT ...) cannot run Python code. ``faulthandler`` writes the
traceback to ``<data_dir>/native/fault-<pid>-<token>.log`` instead of the terminal; the next
start turns that file into a report (as Crashpad and the Firefox crash reporter do) and
deletes it. The file exists only while consent is given. If the app (or ``-X faulthandler``)
enabled faulthandler itself we leave it alone: it owns the one output faulthandler has.

The hooks report to a :class:`CrashSink` (the client, passed in): this module does not
import the client.
"""

from __future__ import annotations

import collections
import os
import sys
import threading

from crashveil.sdk._internal import logger, suppress_internal_errors

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    import weakref
    from pathlib import Path
    from typing import Any, Protocol

    from crashveil.sdk.collect import TaskContext

    class CrashSink(Protocol):
        """Where the hooks send what they catch (the client)."""

        def capture_exception(self, exc: BaseException, *, mechanism: str = "manual",
                              tb: Any = None, task: TaskContext | None = None) -> str | None: ...
        def add_breadcrumb(self, message: str, category: str = "default") -> None: ...
        def breadcrumbs_muted(self) -> bool: ...
        def level(self) -> str: ...
        def report_native(self, signal: tuple[str, int], frames: list[tuple[str, str, int]], *,
                          occurred_s: float) -> bool: ...

__all__ = ["Hooks", "read_fault_log"]

_FAULT_PREFIX = "fault-"
#: The attribute :meth:`Hooks._first_sighting` sets on an exception that refuses weak references.
_SEEN_ATTR = "_crashveil_seen"


class Hooks:
    """The hooks of one client; ``install()`` once, ``uninstall()`` at shutdown.

    ``data_dir`` holds the native fault files (none without it); ``logging_integration``
    reports ``logger.exception(...)`` records, ``logging_breadcrumbs`` keeps log lines as
    breadcrumbs (the options of the same names).
    """

    def __init__(self, client: CrashSink, *, data_dir: Path | None = None, logging_integration: bool = False,
                 logging_breadcrumbs: bool = False) -> None:
        self.client = client
        self.data_dir = data_dir
        self.logging_integration = logging_integration
        self.logging_breadcrumbs = logging_breadcrumbs
        self.active = False
        # The last crashes captured, held weakly: an ``id()`` alone would outlive its exception,
        # and CPython gives the next exception the freed address (a distinct crash, skipped).
        self._seen: collections.deque[weakref.ref[BaseException]] = collections.deque(maxlen=32)
        self._seen_lock = threading.Lock()
        self._token = os.urandom(6).hex()  # these hooks, in the marker of exceptions without weakrefs
        self._previous: dict[str, Any] = {}
        self._fault_file: Any = None
        self._fault_path: Path | None = None
        self._log_handler: Any = None
        self._crumb_handler: Any = None

    # -- install / uninstall ---------------------------------------------------------------
    def install(self) -> None:
        self.active = True
        self._previous["excepthook"] = sys.excepthook
        sys.excepthook = self._excepthook
        self._previous["threading"] = threading.excepthook
        threading.excepthook = self._threading_hook
        self._previous["unraisable"] = sys.unraisablehook
        sys.unraisablehook = self._unraisable_hook
        if "asyncio" in sys.modules:
            self.install_asyncio()
        if self.logging_integration:
            self._install_logging()
        if self.logging_breadcrumbs:
            self._install_logging_breadcrumbs()
        self.start_native()
        with suppress_internal_errors("integrations"):
            from crashveil.sdk.integrations._base import attach

            attach(self)  # framework integrations (Celery, Tk, Qt ...): only those already imported

    def uninstall(self) -> None:
        """Restore the previous hooks where ours is still in place; otherwise go inert."""
        self.active = False
        if "crashveil.sdk.integrations._base" in sys.modules:  # first: an integration may wrap our excepthook
            from crashveil.sdk.integrations._base import detach

            detach(self)
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous["excepthook"]
        if threading.excepthook == self._threading_hook:
            threading.excepthook = self._previous["threading"]
        if sys.unraisablehook == self._unraisable_hook:
            sys.unraisablehook = self._previous["unraisable"]
        if "asyncio_loop" in self._previous:
            loop_class = self._previous["asyncio_loop"]
            if getattr(loop_class.call_exception_handler, "_crashveil", False):
                loop_class.call_exception_handler = self._previous["asyncio"]
        if self._log_handler is not None:
            import logging

            logging.getLogger().removeHandler(self._log_handler)
        if self._crumb_handler is not None:
            import logging

            logging.getLogger().removeHandler(self._crumb_handler)
        self.stop_native()

    # -- the hooks -------------------------------------------------------------------------
    def report(self, exc: BaseException, mechanism: str, tb: Any = None, task: TaskContext | None = None) -> None:
        """A framework integration's crash (``crashveil.sdk.integrations``): reported once,
        however many layers see the same exception object."""
        self._capture(exc, mechanism, tb, task)

    def _capture(self, exc: BaseException | None, mechanism: str, tb: Any = None,
                 task: TaskContext | None = None) -> None:
        if not self.active or exc is None or isinstance(exc, KeyboardInterrupt):
            return
        # capture_exception guards itself (and skips when called from inside the SDK);
        # nothing here can raise.
        first = True
        with suppress_internal_errors("hooks"):
            first = self._first_sighting(exc)
        if not first:  # the same crash seen by two hooks (logged, then raised)
            return
        if task is None:
            self.client.capture_exception(exc, mechanism=mechanism, tb=tb)
        else:
            self.client.capture_exception(exc, mechanism=mechanism, tb=tb, task=task)

    def _first_sighting(self, exc: BaseException) -> bool:
        """Remember ``exc``; False if one of our hooks already saw this very object.

        Never by ``id()`` alone: an id outlives its exception, and CPython gives the next
        exception the freed address (a distinct crash would be skipped). Nor by holding the
        exception (its traceback, frames and locals would stay alive). Instead:

        - a weak reference, compared by identity, when the exception's class allows one
          (classes defined in Python without ``__slots__``); the last 32 are kept;
        - otherwise (built-in classes such as ``ValueError``, slotted subclasses: they refuse
          weak references) a marker in the exception's own ``__dict__``, naming these hooks
          and the object, so it dies with the exception, a copy or an unpickled twin does
          not carry a match, and pickling still works (the value is a ``str``).

        Not a ``WeakSet``: it hashes, and an app's exception may be unhashable (``__eq__``
        without ``__hash__``). Where neither works the crash is reported (twice at worst,
        never lost).
        """
        import weakref  # on the first crash: not a cost of every app's start

        with self._seen_lock:
            try:
                ref = weakref.ref(exc)
            except TypeError:
                return self._mark(exc)
            for seen in self._seen:
                if seen() is exc:
                    return False
            self._seen.append(ref)
            return True

    def _mark(self, exc: BaseException) -> bool:
        """The marker variant of :meth:`_first_sighting`, for exceptions without weak references."""
        try:
            attrs = vars(exc)  # its __dict__ itself: an app ``__setattr__`` is not involved
        except TypeError:
            return True
        mark = f"{self._token}:{id(exc):x}"
        if attrs.get(_SEEN_ATTR) == mark:
            return False
        try:
            attrs[_SEEN_ATTR] = mark
        except TypeError:  # not a real dict (an app's odd ``__dict__``)
            pass
        return True

    def _excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: Any) -> Any:
        if not hasattr(sys, "ps1"):  # an interactive session's typos are not crashes
            self._capture(exc, "excepthook", tb)
        return self._previous["excepthook"](exc_type, exc, tb)

    def _threading_hook(self, args: Any) -> Any:
        self._capture(args.exc_value, "thread", args.exc_traceback)
        return self._previous["threading"](args)

    def _unraisable_hook(self, args: Any) -> Any:
        self._capture(args.exc_value, "unraisable", args.exc_traceback)
        return self._previous["unraisable"](args)

    def install_asyncio(self) -> None:
        """Wrap ``BaseEventLoop.call_exception_handler``: every loop, custom handlers kept.

        A per-loop ``set_exception_handler`` would miss loops created later (``asyncio.run``
        makes a new one) and replace the app's handler; wrapping the one method every
        loop calls first keeps both.
        """
        import asyncio.base_events

        loop_class = asyncio.base_events.BaseEventLoop
        original = loop_class.call_exception_handler
        if getattr(original, "_crashveil", False):
            return
        hooks = self

        def call_exception_handler(loop: asyncio.base_events.BaseEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception") if isinstance(context, dict) else None
            if isinstance(exc, BaseException):
                hooks._capture(exc, "asyncio")
            original(loop, context)

        call_exception_handler._crashveil = True  # type: ignore[attr-defined]
        self._previous["asyncio_loop"] = loop_class
        self._previous["asyncio"] = original
        # Patching the class's method: mypy reads a function stored on a class as a method with
        # ``self`` twice, so the assignment check is wrong here as well as the method-assign one.
        loop_class.call_exception_handler = call_exception_handler  # type: ignore[method-assign, assignment]

    def _install_logging(self) -> None:
        import logging

        hooks = self

        class CrashveilHandler(logging.Handler):
            """Reports ``logger.exception(...)`` records (ERROR and above, with exc_info)."""

            def emit(self, record: logging.LogRecord) -> None:
                if record.name == "crashveil" or record.name.startswith("crashveil."):
                    return
                exc_info = record.exc_info
                if exc_info and exc_info[1] is not None:
                    hooks._capture(exc_info[1], "logging", exc_info[2])

        self._log_handler = CrashveilHandler(level=logging.ERROR)
        logging.getLogger().addHandler(self._log_handler)

    def _install_logging_breadcrumbs(self) -> None:
        import logging

        hooks = self

        class CrashveilBreadcrumbHandler(logging.Handler):
            """Records INFO-and-above log lines as breadcrumbs (``log.info``, ``log.error`` ...).

            The message is formatted only when breadcrumbs are kept; the client redacts it
            at a crash like every other breadcrumb.
            """

            def emit(self, record: logging.LogRecord) -> None:
                client = hooks.client
                if not hooks.active or client.breadcrumbs_muted():
                    return
                if record.name == "crashveil" or record.name.startswith("crashveil."):
                    return
                with suppress_internal_errors("breadcrumb"):
                    message = record.getMessage()
                    client.add_breadcrumb(message, f"log.{record.levelname.lower()}")

        self._crumb_handler = CrashveilBreadcrumbHandler(level=logging.INFO)
        logging.getLogger().addHandler(self._crumb_handler)

    # -- native faults ---------------------------------------------------------------------
    def start_native(self) -> None:
        """With consent: report faults left by earlier runs, then watch for ours."""
        with suppress_internal_errors("native"):
            if self.data_dir is None or self.client.level() == "off":
                return
            self.collect_native_faults()
            import faulthandler

            if self._fault_file is not None:
                return
            if faulthandler.is_enabled():
                logger.debug("crashveil: faulthandler already enabled; native faults not captured")
                return
            directory = self.data_dir / "native"
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / f"{_FAULT_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._fault_file = os.fdopen(fd, "w")
            self._fault_path = path
            faulthandler.enable(file=self._fault_file, all_threads=False)

    def stop_native(self) -> None:
        with suppress_internal_errors("native"):
            if self._fault_file is None:
                return
            import faulthandler

            faulthandler.disable()
            self._fault_file.close()
            self._fault_file = None
            if self._fault_path is not None and self._fault_path.stat().st_size == 0:
                self._fault_path.unlink()
            self._fault_path = None

    def collect_native_faults(self) -> int:
        """Turn fault files of dead processes into reports; returns how many."""
        if self.data_dir is None:
            return 0
        directory = self.data_dir / "native"
        if not directory.is_dir():
            return 0
        found = 0
        for path in sorted(directory.glob(f"{_FAULT_PREFIX}*.log")):
            if path == self._fault_path:
                continue
            with suppress_internal_errors("native"):
                pid = int(path.name[len(_FAULT_PREFIX):].split("-")[0])
                text = path.read_text("ascii", "replace")
                if not text.strip():
                    if not _alive(pid):
                        path.unlink()
                    continue
                parsed = read_fault_log(text)
                occurred_s = path.stat().st_mtime  # when faulthandler wrote it: the crash time
                path.unlink()  # whatever happens next, a fault file is reported at most once
                if parsed is None:
                    continue
                signal_name, frames = parsed
                if self.client.report_native(signal_name, frames, occurred_s=occurred_s):
                    found += 1
        return found


_SIGNALS = {
    "Segmentation fault": ("SIGSEGV", 11),
    "Aborted": ("SIGABRT", 6),
    "Bus error": ("SIGBUS", 7),
    "Floating point exception": ("SIGFPE", 8),
    "Illegal instruction": ("SIGILL", 4),
}


def read_fault_log(text: str) -> tuple[tuple[str, int], list[tuple[str, str, int]]] | None:
    """Parse faulthandler output into ``((name, signal number), frames outermost first)``.

    Only the first stack (the faulting thread) is read; faulthandler writes it most recent
    call first, so it is reversed.
    """
    signal: tuple[str, int] | None = None
    frames: list[tuple[str, str, int]] = []
    in_stack = False
    for line in text.splitlines():
        if line.startswith("Fatal Python error:"):
            reason = line.split(":", 1)[1].strip()
            signal = _SIGNALS.get(reason, ("SIGNAL", 0))
        elif "(most recent call first):" in line:
            if in_stack or frames:
                break
            in_stack = True
        elif in_stack and line.startswith("  File "):
            frame = _parse_frame(line)
            if frame is not None:
                frames.append(frame)
        elif in_stack and not line.strip():
            break
    if signal is None:
        return None
    frames.reverse()
    return signal, frames


def _parse_frame(line: str) -> tuple[str, str, int] | None:
    # '  File "/path/app.py", line 12 in crash'  (3.11; 3.12+ may add ' (...)' details)
    try:
        rest = line.strip()[len('File "'):]
        filename, rest = rest.split('", line ', 1)
        number, _, function = rest.partition(" in ")
        return filename, function.strip().split(" ")[0] or "?", int(number.strip())
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
