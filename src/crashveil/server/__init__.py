"""The crashveil server: ingestion, storage, keys, dashboard. Needs ``crashveil[server]``.

``pip install crashveil`` gives the SDK only; importing this package without the server
extra raises an ImportError that names the extra to install.
"""

from __future__ import annotations

import importlib.util

_REQUIRED = ("starlette", "sqlalchemy", "alembic", "click")
_missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
if _missing:
    raise ImportError(
        f"crashveil.server needs the 'server' extra ({', '.join(_missing)} not installed): "
        "pip install 'crashveil[server]'"
    )
del _missing
