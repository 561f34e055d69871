"""Deployment tests: the files under deploy/ and docs/deploy.md, run for real where they can be.

``servers`` is ``tests/_servers.py`` (loaded by path: ``tests`` is not a package): the real
``crashveil server init`` and a real server process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"


@pytest.fixture(scope="session")
def servers() -> ModuleType:
    name = "crashveil_tests_servers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "_servers.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def required_binary(name: str, package: str) -> str:
    """The path of Debian's ``name``; skipped when missing locally, a failure in CI (where
    scripts/test installs ``package``), like the other Debian parts the tests drive."""
    found = shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name)
                                        if p.exists()), None)
    if found is None:
        message = f"{name} is not installed (apt-get install -y {package}; scripts/test does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
