"""Qt (PySide6): an exception raised in a slot or a virtual override is reported.

PySide6 (checked with 6.12) catches a Python exception that leaves a slot, passes it to
``sys.excepthook`` and lets the event loop go on. So the crash hooks would see it, but as
``excepthook``, and an interactive session (``sys.ps1``) would skip it. We wrap
``sys.excepthook`` and claim the exceptions that arrive while a Qt application exists and
the current thread is inside an event loop (``QThread.loopLevel() > 0``): those are slot
exceptions, reported as ``qt``. Anything else goes on to the previous hook unchanged; the
hooks skip what we already reported (same exception object).

Nothing of the widgets is read: their text reaches a report only inside the exception's
message (``message`` field, diagnostic level, redacted like every message).
"""

from __future__ import annotations

import sys

from crashveil.sdk.integrations._base import Integration, report

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from typing import Any

__all__ = ["QtIntegration", "default_integrations"]


class QtIntegration(Integration):
    """Reports PySide6 slot exceptions (wraps ``sys.excepthook``).

    A second ``init()`` tears this down with the old client, installs the crash hooks, then
    sets this up again, on top. If the app wrapped ``sys.excepthook`` over ours meanwhile,
    teardown cannot unwrap it: the old wrapper stays in the chain and only passes exceptions
    on. Each wrapper keeps the hook it wrapped in its own closure, so the chain never loops.
    """

    name = "qt"
    framework_module = "PySide6.QtCore"

    def __init__(self) -> None:
        self._wrapper: Any = None
        self._wrapped: Any = None

    def setup_once(self) -> None:
        if self._wrapper is not None and sys.excepthook is self._wrapper:
            return
        previous = sys.excepthook
        integration = self

        def excepthook(exc_type: type[BaseException], value: BaseException, tb: Any) -> Any:
            if integration._wrapper is excepthook:
                integration.on_excepthook(value, tb)
            return previous(exc_type, value, tb)

        self._wrapper, self._wrapped = excepthook, previous
        sys.excepthook = excepthook

    def teardown(self) -> None:
        if self._wrapper is not None and sys.excepthook is self._wrapper:
            sys.excepthook = self._wrapped
        self._wrapper = self._wrapped = None

    def on_excepthook(self, value: BaseException, tb: Any) -> None:
        """Report ``value`` as a slot exception if it comes from inside a Qt event loop."""
        if isinstance(value, BaseException) and in_qt_event_loop():
            report(self.name, value, mechanism="qt", tb=tb)


def in_qt_event_loop() -> bool:
    """True inside a Qt event loop of this thread, with a Qt application in existence."""
    try:
        from PySide6.QtCore import QCoreApplication, QThread

        return QCoreApplication.instance() is not None and QThread.currentThread().loopLevel() > 0
    except Exception:  # noqa: BLE001 - Qt torn down at exit: not a slot exception
        return False


def default_integrations() -> tuple[QtIntegration]:
    return (QtIntegration(),)
