"""IPython and Jupyter: an exception raised by a cell is reported.

IPython catches every exception a cell raises and prints it; ``sys.excepthook`` never runs.
``InteractiveShell.set_custom_exc`` is its one hook for that: we register ours for
``Exception`` and then show the traceback as IPython would. A handler the app registered
before is kept: its exception types still go to it (after we report). Syntax errors are
typos, not crashes: shown, never reported.

Installed only into a running shell (``IPython.get_ipython()``): importing IPython as a
library does nothing.
"""

from __future__ import annotations

from crashveil.sdk.integrations._base import Integration, report

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from typing import Any

__all__ = ["IPythonIntegration", "default_integrations"]


class IPythonIntegration(Integration):
    """Reports exceptions of IPython cells (``InteractiveShell.set_custom_exc``)."""

    name = "ipython"
    framework_module = "IPython"

    def __init__(self) -> None:
        self._shell: Any = None
        self._previous: tuple[tuple[type[BaseException], ...], Any] = ((), None)

    def setup_once(self) -> None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or shell is self._shell:
            return
        previous_types: tuple[type[BaseException], ...] = tuple(shell.custom_exceptions)
        previous_handler = shell.CustomTB

        def handler(shell_self: Any, etype: type[BaseException], value: BaseException, tb: Any,
                    tb_offset: int | None = None) -> Any:
            if not issubclass(etype, SyntaxError):
                report(IPythonIntegration.name, value, mechanism="ipython", tb=tb)
            if previous_types and issubclass(etype, previous_types):
                return previous_handler(etype, value, tb, tb_offset=tb_offset)
            return shell_self.showtraceback((etype, value, tb), tb_offset=tb_offset)

        self._previous = (previous_types, previous_handler)
        self._shell = shell
        shell.set_custom_exc((Exception,), handler)

    def teardown(self) -> None:
        shell = self._shell
        if shell is None:
            return
        previous_types, previous_handler = self._previous
        shell.custom_exceptions = previous_types
        shell.CustomTB = previous_handler
        self._shell = None


def default_integrations() -> tuple[IPythonIntegration]:
    return (IPythonIntegration(),)
