"""Framework integrations: catch the crashes that frameworks swallow.

A web framework answers a view's exception with a 500, Celery and RQ mark a failed task
failed, Tkinter prints a callback's exception, Qt passes a slot's exception to
``sys.excepthook`` and goes on, IPython catches everything, a ``multiprocessing`` child
prints and exits, and a ``concurrent.futures`` exception nobody asked for is dropped.

The modules are grouped by family: ``web/`` (WSGI, ASGI, Django, Flask, Starlette, FastAPI),
``tasks/`` (Celery, RQ), ``gui/`` (Tkinter, Qt, IPython); ``processes`` (multiprocessing,
concurrent.futures) and ``_base`` sit here. One registry (``AUTO_INTEGRATIONS``) lists the
integration modules by their path from this package and the frameworks whose
presence in ``sys.modules`` lets ``init()`` set them up. An integration is enabled
explicitly (``crashveil.init(integrations=[FlaskIntegration()])``, or :func:`enable` for a
framework imported after ``init()``), or auto-detected, but only when its framework is
*already* loaded: this module never imports a framework, nor the integration modules until
one is needed, so ``init()`` stays cheap (``tests/sdk/test_init_cost.py``) and ``import
crashveil`` loads no framework. ``shutdown()`` tears every integration down (:func:`teardown`).

Every integration reports through ``_base`` (``claim``, then ``capture``: the client's capture
entry point, with the crash hooks' dedup) and puts context in a report only as policy fields
(``CONTEXT_FIELDS``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Sequence

    from crashveil.sdk.integrations._base import Integration

__all__ = ["AUTO_INTEGRATIONS", "setup_integrations", "teardown", "enable", "disable"]

#: ``(integration module, dotted from this package, frameworks whose presence in sys.modules
#: enables it)``, in the order ``init()`` sets them up. One literal line per module, no import:
#: ``init()`` reads it without loading any. Each module defines ``default_integrations()``
#: (each integration there names its own ``framework_module``). The last part of the path
#: (``"django"``) is the short name :func:`enable` and :func:`disable` accept too; it is unique.
AUTO_INTEGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("web.django", ("django",)),
    ("web.flask", ("flask",)),
    ("web.starlette", ("starlette",)),  # FastAPI too: it is built on Starlette
    ("tasks.celery", ("celery",)),
    ("tasks.rq", ("rq",)),
    ("gui.tkinter", ("tkinter",)),
    ("gui.qt", ("PySide6.QtCore",)),
    ("gui.ipython", ("IPython",)),
    ("processes", ("multiprocessing", "concurrent.futures")),
)

_BASE = __name__ + "._base"


def setup_integrations(explicit: Sequence[Integration], *, auto: bool) -> None:
    """Set up the ``explicit`` integrations, and with ``auto`` those whose framework is loaded.

    Without any, nothing more is imported (the usual desktop app).
    """
    wanted = [name for name, frameworks in AUTO_INTEGRATIONS
              if auto and any(framework in sys.modules for framework in frameworks)]
    if not explicit and not wanted and _BASE not in sys.modules:
        return  # none now, and none set up by an earlier init() to switch off
    from crashveil.sdk.integrations._base import install

    install(explicit, wanted)


def teardown() -> None:
    """``shutdown()``: remove every integration's hooks (nothing to do if none was set up)."""
    if _BASE in sys.modules:
        from crashveil.sdk.integrations._base import uninstall_all

        uninstall_all()


def enable(name: str) -> None:
    """Set up the integrations of module ``name`` now, importing its framework if need be: for a
    framework imported after ``init()``. Reports go to the client of ``crashveil.init()`` (none
    before).

    ``name`` is the short name (``"django"``, ``"celery"``, ``"qt"``, ``"processes"``: the
    framework's) or the module's path in ``AUTO_INTEGRATIONS`` (``"web.django"``). Raises
    ``ConfigError`` for an unknown name.
    """
    from crashveil.sdk.integrations._base import enable as _enable

    _enable(name)


def disable(name: str) -> None:
    """Remove the integrations of module ``name`` (as for :func:`enable`) and restore what they
    patched."""
    from crashveil.sdk.integrations._base import disable as _disable

    _disable(name)
