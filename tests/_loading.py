"""Load a helper module of ``tests/`` by its path, once, under a fixed name.

``tests`` is not a package (pytest runs with ``--import-mode=importlib``), so shared helpers
such as ``_servers.py`` are loaded by path. Each is registered in ``sys.modules`` under one
name (``crashveil_tests_servers``...), so every test module that loads it gets the same module
object and its state (caches, started servers) is shared, not duplicated.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load"]


def load(name: str, path: Path) -> ModuleType:
    """The module at ``path``, executed once and kept in ``sys.modules`` as ``name``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
