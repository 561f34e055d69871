"""What every integration shares: the ``Integration`` base, set-up once per process, the
active instance of each, and the one way into the SDK (``capture``) with its dedup.

An integration hooks its framework once (``setup_once``: a signal, a patched method); the
hook looks up the *current* client at each crash, so ``shutdown()`` or a new ``init()``
needs no unhooking, and the settings of the integration given to the latest ``init()``
apply (``active``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence

from crashveil.sdk._internal import suppress_internal_errors

__all__ = ["Integration", "install", "active", "claim", "capture"]

#: The attribute set on an exception already claimed by an integration (when the client has
#: no crash hooks to remember it: a bare client in tests). A ``str``: pickling still works.
_CLAIMED_ATTR = "_crashveil_claimed"


class Integration:
    """One framework's hook. Subclasses set ``name`` and implement ``setup_once``."""

    name = "integration"

    def setup_once(self) -> None:
        """Hook the framework (called once per process, however often ``init()`` runs)."""
        raise NotImplementedError


_lock = threading.Lock()
_set_up: set[str] = set()
_active: dict[str, Integration] = {}


def install(explicit: Sequence[Integration], auto_names: Sequence[str]) -> None:
    """Make ``explicit`` and the auto-detected ``auto_names`` (modules here) the active integrations."""
    chosen: dict[str, Integration] = {}
    for integration in explicit:  # checked by ``Options``: integration objects
        chosen[integration.name] = integration
    for module_name in auto_names:
        if module_name not in chosen:
            module = importlib.import_module(f"crashveil.sdk.integrations.{module_name}")
            default = module.default_integration()
            chosen.setdefault(default.name, default)
    with _lock:
        _active.clear()
        _active.update(chosen)
        for name, integration in chosen.items():
            if name not in _set_up:
                _set_up.add(name)
                with suppress_internal_errors(f"integration.{name}"):
                    integration.setup_once()


def active(name: str) -> Integration | None:
    """The integration called ``name`` given to the latest ``init()`` (None: not enabled)."""
    return _active.get(name)


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


def capture(exc: BaseException, *, mechanism: str, context: tuple[tuple[str, str | int], ...] = ()) -> str | None:
    """Report a claimed ``exc`` through the client's capture entry point (queued, never sent here)."""
    import crashveil

    return crashveil._current().capture_exception(exc, mechanism=mechanism, context=context)
