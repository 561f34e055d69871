"""Framework integrations: catch the crashes that frameworks swallow.

Celery and RQ mark a failed task failed, Tkinter prints a callback's exception, Qt passes a
slot's exception to ``sys.excepthook`` and goes on, IPython catches everything, a
``multiprocessing`` child prints and exits, and a ``concurrent.futures`` exception nobody
asked for is silently dropped. Each module here hooks one of them and reports through the
client's crash hooks (so one exception seen by two layers is reported once).

An integration is installed by ``crashveil.init()`` only when its framework is already in
``sys.modules`` (this package never imports a framework: ``import crashveil`` stays light),
or explicitly with :func:`enable` (which may import the framework).
"""

from __future__ import annotations

__all__ = ["INTEGRATIONS", "FRAMEWORKS", "enable", "disable"]

#: The integration modules of this package, in the order ``init()`` installs them.
INTEGRATIONS = ("celery", "rq", "tkinter", "qt", "ipython", "processes")

#: Integration module -> the framework modules whose presence in ``sys.modules`` enables it
#: (read without importing the integration module itself).
FRAMEWORKS = {
    "celery": ("celery",),
    "rq": ("rq",),
    "tkinter": ("tkinter",),
    "qt": ("PySide6.QtCore",),
    "ipython": ("IPython",),
    "processes": ("multiprocessing", "concurrent.futures"),
}


def enable(name: str) -> None:
    """Install the integrations of module ``name`` (one of ``INTEGRATIONS``) now, importing
    its framework if need be. Reports go to the client of ``crashveil.init()`` (none before).

    Raises ``ConfigError`` for an unknown name.
    """
    from crashveil.sdk.integrations._base import enable as _enable

    _enable(name)


def disable(name: str) -> None:
    """Remove the integrations of module ``name`` and restore what they patched."""
    from crashveil.sdk.integrations._base import disable as _disable

    _disable(name)
