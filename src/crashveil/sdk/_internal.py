"""What the SDK modules share about their own failures: a logger, a guard, loss counters.

The SDK runs inside someone else's program. Every path reached from a hook goes through
:func:`suppress_internal_errors`, which swallows the failure, counts it by reason and logs
it at debug *without* the exception message (messages can carry the crashed program's data;
only the exception type and where it happened are logged). Tests register a listener with
:func:`add_error_listener` so that what production swallows still fails the test
(sentry-python's ``internal_exceptions`` fixture).
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = [
    "logger",
    "suppress_internal_errors",
    "count_dropped",
    "dropped_counts",
    "reset_dropped",
    "add_error_listener",
    "remove_error_listener",
    "in_sdk",
]


class _LazyLogger:
    """The ``crashveil`` logger, created on first use so ``import crashveil`` stays cheap."""

    def debug(self, msg: str, *args: object) -> None:
        import logging

        logging.getLogger("crashveil").debug(msg, *args, stacklevel=2)  # the caller's line, as before

    def __getattr__(self, name: str) -> object:
        import logging

        return getattr(logging.getLogger("crashveil"), name)


logger = _LazyLogger()

_lock = threading.Lock()
_dropped: dict[str, int] = {}
_listeners: list[Callable[[BaseException], None]] = []
_state = threading.local()


def count_dropped(reason: str, quantity: int = 1) -> None:
    """Count ``quantity`` crashes or requests lost for ``reason`` (a short snake_case name)."""
    with _lock:
        _dropped[reason] = _dropped.get(reason, 0) + quantity


def dropped_counts() -> dict[str, int]:
    """A copy of the loss counters since the process started (or the last reset)."""
    with _lock:
        return dict(_dropped)


def reset_dropped() -> None:
    """Forget the loss counters (tests, and after the counts were reported)."""
    with _lock:
        _dropped.clear()


def add_error_listener(listener: Callable[[BaseException], None]) -> None:
    """Call ``listener`` with every internal error the guard swallows (used by tests)."""
    _listeners.append(listener)


def remove_error_listener(listener: Callable[[BaseException], None]) -> None:
    try:
        _listeners.remove(listener)
    except ValueError:
        pass


def in_sdk() -> bool:
    """True while this thread runs SDK capture code (so the SDK never reports itself)."""
    return bool(getattr(_state, "depth", 0))


class suppress_internal_errors:  # used like a function: ``with suppress_internal_errors(...)``
    """Run SDK code that must never raise into the host program.

    Any ``Exception`` is swallowed, counted under ``reason`` and logged at debug with its
    type and location only. ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt,
    SystemExit) belongs to the host and passes through.

    A class rather than ``contextlib.contextmanager``: no ``contextlib`` import at ``init()``,
    and no generator per use on the capture path.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str = "internal_error") -> None:
        self.reason = reason

    def __enter__(self) -> None:
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        _state.depth -= 1
        if exc is None or not isinstance(exc, Exception):
            return False
        # The SDK guard: the one place a catch-all is allowed.
        count_dropped(self.reason)
        try:
            logger.debug("crashveil: internal error %s (%s) at %s", type(exc).__name__, self.reason, _where(exc))
        except Exception:  # noqa: BLE001 - the SDK guard: a broken logging setup never reaches the app
            pass
        for listener in list(_listeners):
            try:
                listener(exc)
            except Exception:  # noqa: BLE001 - a listener's bug never reaches the app
                pass
        return True


def _where(exc: BaseException) -> str:
    """``module.py:function:line`` of the innermost frame; never the message."""
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    name = code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{name}:{code.co_name}:{tb.tb_lineno}"
