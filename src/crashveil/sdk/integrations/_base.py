"""What every integration shares: the ``Integration`` base, set-up and tear-down, the active
instance of each, and the one way into the SDK (``claim`` then ``capture``) with its dedup.

The life of an integration:

- ``init()`` picks the integrations (explicit ones, and with auto-detection the
  ``default_integrations()`` of each registered module whose framework is loaded) and makes
  them *active*; each not yet set up is set up (``setup_once``: connect a signal, wrap a
  method). ``enable(name)`` does the same for one module later (a framework imported after
  ``init()``).
- A hook looks up the *active* integration at each crash (``active``, or ``report``), so
  the settings given to the latest ``init()`` apply, and a hook of an integration no longer
  active does nothing.
- ``shutdown()`` (and the ``init()`` that replaces a client) tears every set-up integration
  down, newest first (``uninstall_all``): patches of shared classes and of
  ``sys.excepthook`` are restored; a signal receiver that only looks up ``active`` may stay,
  inert (``Integration.teardown``'s default). At interpreter exit nothing is torn down: a
  crash during shutdown is still caught.

Loaded by ``init()`` only when an integration is wanted: stdlib only, no framework imported.
"""

from __future__ import annotations

import sys
import threading

from crashveil.sdk._internal import suppress_internal_errors

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: loaded by ``init()``
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["Integration", "install", "uninstall_all", "enable", "disable", "installed", "active", "claim",
           "capture", "report"]

#: The attribute set on an exception already claimed by an integration (when the client has
#: no crash hooks to remember it: a bare client in tests). A ``str``: pickling still works.
_CLAIMED_ATTR = "_crashveil_claimed"

#: ``(field, value)`` pairs of policy fields an integration knows of a crash (``CONTEXT_FIELDS``).
Context = tuple[tuple[str, str | int], ...]


class Integration:
    """One framework's hook. Subclasses set ``name`` and ``framework_module`` and implement
    ``setup_once`` (and ``teardown`` when they patch something shared)."""

    name = "integration"
    #: The ``sys.modules`` key whose presence lets ``init()`` set this one up by itself.
    framework_module = ""

    def setup_once(self) -> None:
        """Hook the framework (once while set up, however often ``init()`` runs)."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Undo ``setup_once`` (``shutdown()``, ``disable()``). The default undoes nothing: for
        hooks that look up ``active()`` (inert once not active) and whose set-up is idempotent."""


_lock = threading.Lock()
#: Integrations whose ``setup_once`` ran and whose ``teardown`` has not, in set-up order.
_set_up: dict[str, Integration] = {}
#: The integration of each name given to the latest ``init()`` or ``enable()``.
_active: dict[str, Integration] = {}


def install(explicit: Sequence[Integration], auto_modules: Sequence[str]) -> None:
    """Make ``explicit`` and the auto-detected ones of ``auto_modules`` the active integrations."""
    chosen: dict[str, Integration] = {}
    for integration in explicit:  # checked by ``Options``: integration objects
        chosen[integration.name] = integration
    for module_name in auto_modules:
        for default in _defaults_of(module_name):
            if default.framework_module in sys.modules:  # ``processes``: only the half that is loaded
                chosen.setdefault(default.name, default)
    with _lock:
        _active.clear()
        _active.update(chosen)
        for integration in chosen.values():
            _set_up_locked(integration)


def uninstall_all() -> None:
    """Tear down every set-up integration, newest first; none is active afterwards."""
    with _lock:
        _active.clear()
        for name in reversed(tuple(_set_up)):
            _tear_down_locked(name)


def enable(name: str) -> None:
    """Activate and set up the integrations of module ``name`` (short name or registered path),
    importing its framework."""
    for integration in _defaults_of(name):
        with _lock:
            current = _active.setdefault(integration.name, integration)  # an explicit one keeps its settings
            _set_up_locked(current)


def disable(name: str) -> None:
    """Deactivate and tear down the integrations of module ``name`` (as for ``enable``)."""
    names = {integration.name for integration in _defaults_of(name)}
    with _lock:
        for set_up_name in reversed(tuple(_set_up)):
            if set_up_name in names:
                _tear_down_locked(set_up_name)
        for integration_name in names:
            _active.pop(integration_name, None)


def installed() -> tuple[str, ...]:
    """Names of the integrations set up in this process, in set-up order."""
    return tuple(_set_up)


def active(name: str) -> Integration | None:
    """The integration called ``name`` given to the latest ``init()`` (None: not enabled)."""
    return _active.get(name)


def _set_up_locked(integration: Integration) -> None:
    if integration.name not in _set_up:
        _set_up[integration.name] = integration
        with suppress_internal_errors(f"integration.{integration.name}"):
            integration.setup_once()


def _tear_down_locked(name: str) -> None:
    integration = _set_up.pop(name)
    with suppress_internal_errors(f"integration.{name}"):
        integration.teardown()


def _defaults_of(name: str) -> tuple[Integration, ...]:
    module_path = _module_path(name)
    qualified = f"crashveil.sdk.integrations.{module_path}"
    __import__(qualified)  # not ``importlib``: init() would load it (and ``warnings``) for this alone
    found: tuple[Integration, ...] = sys.modules[qualified].default_integrations()
    return found


def _module_path(name: str) -> str:
    """The registered module path (``"web.django"``) of ``name``: that path or its last part."""
    from crashveil.sdk.integrations import AUTO_INTEGRATIONS

    paths = [path for path, _frameworks in AUTO_INTEGRATIONS]
    for path in paths:
        if name in (path, path.rpartition(".")[2]):
            return path
    from crashveil.errors import ConfigError

    short_names = [path.rpartition(".")[2] for path in paths]
    raise ConfigError("integration", f"unknown integration {name!r}", ", ".join(short_names))


def claim(exc: BaseException) -> bool:
    """True the first time any layer (an integration, a crash hook, the logging handler) sees ``exc``.

    A framework's handler and its logging, or a middleware and a signal, see one exception:
    only the first makes a report. Claimed even when the report is then skipped (opted out,
    sampled out), so another layer does not report it without its context.
    """
    import crashveil

    client = crashveil._current()
    if not client.enabled:
        return False  # shut down: nothing will be captured
    if client.hooks is not None:
        return bool(client.hooks.first_sighting(exc))
    try:
        attrs = vars(exc)
    except TypeError:
        return True
    if attrs.get(_CLAIMED_ATTR) == f"{id(exc):x}":
        return False
    attrs[_CLAIMED_ATTR] = f"{id(exc):x}"
    return True


def capture(exc: BaseException, *, mechanism: str, tb: TracebackType | None = None,
            context: Context = ()) -> str | None:
    """Report a claimed ``exc`` through the client's capture entry point (queued, never sent here).

    Not inside ``suppress_internal_errors``: the client skips a capture made from inside SDK
    code, and that guard would make this one look like it (the client guards itself).
    """
    import crashveil

    return crashveil._current().capture_exception(exc, mechanism=mechanism, tb=tb, context=context)


def report(name: str, exc: BaseException, *, mechanism: str, tb: TracebackType | None = None,
           context: Context = ()) -> str | None:
    """``claim`` then ``capture``, for an integration with nothing to decide in between (tasks,
    GUI, processes); nothing while the integration ``name`` is not active, nor for Ctrl-C."""
    if name not in _active or isinstance(exc, KeyboardInterrupt) or not claim(exc):
        return None
    return capture(exc, mechanism=mechanism, tb=tb, context=context)
