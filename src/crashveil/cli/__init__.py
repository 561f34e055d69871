"""The ``crashveil`` command (console script ``crashveil.cli:main``).

``app`` holds the root click group and the list of every group; ``options`` the options
several commands share; ``policy``, ``client`` and ``check`` the SDK-side groups (click and
the standard library only). The server's groups are in ``crashveil.server.cli``.
"""

from crashveil.cli.app import main

__all__ = ["main"]
