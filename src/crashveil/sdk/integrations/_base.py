"""The integration protocol, auto-detection, and the one reporter every integration holds.

An integration patches a framework once per process (a signal handler, a class method, a
hook); it reports through :data:`SINK`, which forwards to the crash hooks of the client in
force (``Hooks.report``: the same exception object is reported once, whichever layers see
it). ``init()`` attaches its hooks here (:func:`attach`); ``shutdown()`` detaches them and
removes every patch, as it restores the interpreter's hooks (at exit the client closes
without uninstalling, and the integrations stay for crashes during shutdown). A second
``init()`` re-attaches: nothing is patched twice.

Loaded by ``init()``: stdlib only, no ``typing`` at run time, no framework imported.
"""

from __future__ import annotations

import _thread
import sys

from crashveil.errors import ConfigError
from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.integrations import FRAMEWORKS, INTEGRATIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Protocol

    from crashveil.sdk.collect import TaskContext

    class CrashReporter(Protocol):
        """What an integration's crash goes to: the client's hooks (``Hooks.report``)."""

        def report(self, exc: BaseException, mechanism: str, tb: TracebackType | None = None,
                   task: TaskContext | None = None) -> None: ...

    class Integration(Protocol):
        """One framework's integration. ``install`` is idempotent; ``uninstall`` restores."""

        name: str
        #: The ``sys.modules`` key whose presence makes ``init()`` install it.
        framework_module: str

        def install(self, sink: Sink) -> None: ...
        def uninstall(self) -> None: ...

__all__ = ["SINK", "Sink", "attach", "detach", "detected", "enable", "disable", "installed"]


class Sink:
    """Forwards an integration's crash to the attached hooks; drops it while none is attached."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: CrashReporter | None = None

    def report(self, exc: BaseException, *, mechanism: str, tb: TracebackType | None = None,
               task: TaskContext | None = None) -> None:
        """Report ``exc``; never raises into the framework (the hooks guard the capture).

        Not inside ``suppress_internal_errors`` here: the client skips a capture made from
        inside SDK code, and that guard would make this one look like it.
        """
        target = self.target
        if target is None or not isinstance(exc, BaseException):
            return
        target.report(exc, mechanism, tb, task)

    @property
    def attached(self) -> bool:
        return self.target is not None


SINK = Sink()
_installed: dict[str, Integration] = {}
_lock = _thread.allocate_lock()


def attach(hooks: CrashReporter) -> None:
    """``init()``: report to ``hooks`` from now on; install what the app has imported."""
    SINK.target = hooks
    for module_name in detected():
        with suppress_internal_errors("integration"):
            _install(module_name, only_imported=True)
    for integration in list(_installed.values()):  # a second init(): keep ours on top
        with suppress_internal_errors("integration"):
            integration.install(SINK)


def detach(hooks: CrashReporter) -> None:
    """``shutdown()``: stop reporting to ``hooks`` and remove every integration, newest first."""
    if SINK.target is not hooks:
        return
    SINK.target = None
    with _lock:
        for name in reversed(tuple(_installed)):
            with suppress_internal_errors("integration"):
                _installed.pop(name).uninstall()


def detected() -> list[str]:
    """The integration modules whose framework the app has imported already."""
    return [name for name in INTEGRATIONS if any(module in sys.modules for module in FRAMEWORKS[name])]


def installed() -> tuple[str, ...]:
    """Names of the integrations installed in this process."""
    return tuple(_installed)


def enable(module_name: str) -> None:
    """Install every integration of ``module_name`` (importing its framework if need be)."""
    _install(module_name, only_imported=False)


def disable(module_name: str) -> None:
    """Uninstall every integration of ``module_name``."""
    for integration in _integrations_of(module_name):
        with _lock:
            if _installed.get(integration.name) is integration:
                integration.uninstall()
                del _installed[integration.name]


def _install(module_name: str, *, only_imported: bool) -> None:
    for integration in _integrations_of(module_name):
        if only_imported and integration.framework_module not in sys.modules:
            continue
        with _lock:
            if integration.name in _installed:
                continue
            integration.install(SINK)
            _installed[integration.name] = integration


def _integrations_of(module_name: str) -> tuple[Integration, ...]:
    if module_name not in INTEGRATIONS:
        raise ConfigError("integration", f"unknown integration {module_name!r}", ", ".join(INTEGRATIONS))
    qualified = f"crashveil.sdk.integrations.{module_name}"
    __import__(qualified)  # not ``importlib``: init() would load it (and ``warnings``) for this alone
    found: tuple[Integration, ...] = sys.modules[qualified].INTEGRATIONS
    return found
