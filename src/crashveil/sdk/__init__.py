"""The part of crashveil that runs inside the host app.

Nothing is imported here: ``import crashveil`` must stay cheap, and ``crashveil.init()``
imports the modules it needs. See ``client.py`` for the data's way through the SDK.
"""

from __future__ import annotations

__all__: list[str] = []
