"""Tkinter: an exception in a callback (button command, ``after``, event binding) is reported.

Tk does not let a callback's exception reach ``sys.excepthook``: ``Tk.report_callback_exception``
prints it and the main loop goes on. We wrap that method on the ``Tk`` class, report, then
call the original, so the traceback still prints. An app that replaces the method on its own
root (``root.report_callback_exception = ...``) or a subclass takes it over; it can call
``crashveil.capture_exception(value)`` itself.

Nothing of the widgets is read: their text reaches a report only inside the exception's
message (``message`` field, diagnostic level, redacted like every message).
"""

from __future__ import annotations

from crashveil.sdk.integrations._base import Integration, report

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TkinterIntegration", "default_integrations"]


class TkinterIntegration(Integration):
    """Reports Tk callback exceptions (wraps ``tkinter.Tk.report_callback_exception``)."""

    name = "tkinter"
    framework_module = "tkinter"

    def __init__(self) -> None:
        self._original: Any = None

    def setup_once(self) -> None:
        import tkinter

        if self._original is not None:
            return
        original: Any = vars(tkinter.Tk)["report_callback_exception"]  # the function, not a bound method

        def report_callback_exception(root: Any, exc_type: Any, value: Any, tb: Any) -> Any:
            if isinstance(value, BaseException):
                report(TkinterIntegration.name, value, mechanism="tkinter", tb=tb)
            return original(root, exc_type, value, tb)

        self._original = original
        setattr(tkinter.Tk, "report_callback_exception", report_callback_exception)  # noqa: B010 - typeshed calls it an attribute

    def teardown(self) -> None:
        import tkinter

        if self._original is not None:
            setattr(tkinter.Tk, "report_callback_exception", self._original)  # noqa: B010 - as in setup_once()
            self._original = None


def default_integrations() -> tuple[TkinterIntegration]:
    return (TkinterIntegration(),)
