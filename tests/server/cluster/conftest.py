"""Fixtures of the several-hosts tests: the real server of ``tests/_servers.py`` and the CLI
as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _loading import load

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[2]
servers = load("crashveil_tests_servers", _TESTS / "_servers.py")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m crashveil ARGS`` without this shell's CRASHVEIL_ variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=180,
                          env=environ, stdin=subprocess.DEVNULL)
