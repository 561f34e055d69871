"""Framework integrations: catch the crashes that frameworks swallow (a view's exception
answered with a 500, a failed task, a GUI callback).

Each integration is enabled explicitly (``crashveil.init(integrations=[FlaskIntegration()])``)
or auto-detected, but only when its framework is *already* in ``sys.modules``: this module
never imports a framework, nor the integration modules until one is needed, so ``init()``
stays cheap (``tests/sdk/test_init_cost.py``) and ``import crashveil`` loads no framework.

Every integration reports through ``_base.capture`` (the client's capture entry point, with
its dedup) and puts context in a report only as policy fields (``CONTEXT_FIELDS``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Sequence

    from crashveil.sdk.integrations._base import Integration

__all__ = ["AUTO_INTEGRATIONS", "setup_integrations"]

#: ``(integration module in this package, frameworks whose presence in sys.modules enables it)``.
#: One literal line per integration; each module defines ``default_integration()``.
AUTO_INTEGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("django", ("django",)),
    ("flask", ("flask",)),
    ("starlette", ("starlette",)),  # FastAPI too: it is built on Starlette
)


def setup_integrations(explicit: Sequence[Integration], *, auto: bool) -> None:
    """Set up the ``explicit`` integrations, and with ``auto`` those whose framework is loaded.

    Without any, nothing more is imported (the usual desktop app).
    """
    wanted = [name for name, frameworks in AUTO_INTEGRATIONS
              if auto and any(framework in sys.modules for framework in frameworks)]
    if not explicit and not wanted and __name__ + "._base" not in sys.modules:
        return  # none now, and none set up by an earlier init() to switch off
    from crashveil.sdk.integrations._base import install

    install(explicit, wanted)
