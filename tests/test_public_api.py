"""The public surface of ``crashveil`` and what importing it costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import crashveil

FORBIDDEN = ("ssl", "http.client", "asyncio", "json", "tomllib", "cryptography", "sqlite3", "crashveil.server")


def test_all_is_pinned() -> None:
    """``crashveil.__all__`` changes only on purpose (reviewer checklist item 2)."""
    expected = ["__version__", "add_breadcrumb", "capture_exception", "flush", "grant", "history", "init",
                "installation_code", "level", "needs_prompt", "preview", "privacy_feedback", "revoke",
                "send_privacy_feedback", "shutdown"]
    assert expected == sorted(crashveil.__all__)


def test_every_public_name_exists() -> None:
    """Every name in ``__all__`` is defined."""
    assert [] == [name for name in crashveil.__all__ if not hasattr(crashveil, name)]


def test_import_loads_no_heavy_module() -> None:
    """``import crashveil`` in a fresh process loads none of the forbidden modules."""
    code = ("import sys, crashveil; "
            f"print(repr(sorted(m for m in sys.modules if m in {FORBIDDEN!r} or m.startswith(('cryptography.', "
            "'crashveil.server', 'asyncio.', 'http.')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip()


#: What ``init()`` with consent off must not load: it installs the hooks and reads one small file.
NOT_AT_INIT = ("tomllib", "cryptography", "crashveil.redact", "crashveil.redact.detectors", "crashveil.policy.loader",
               "crashveil.sdk.collect", "ssl", "http.client", "asyncio", "sqlite3", "crashveil.server")


def test_init_with_consent_off_loads_no_heavy_module(tmp_path: object) -> None:
    """``init()`` with consent off (no record, or a recorded "no") parses no policy and loads no redactor."""
    code = ("import sys, crashveil\n"
            "crashveil.init(app_name='probe', data_dir=sys.argv[1], release='1.0')\n"
            "print(crashveil.level(), crashveil.needs_prompt())\n"
            f"print(repr(sorted(m for m in sys.modules if m in {NOT_AT_INIT!r} or m.startswith(('cryptography.', "
            "'crashveil.server', 'asyncio.', 'http.', 'tomllib.')))))\n"
            "if len(sys.argv) > 2:\n"
            "    crashveil.grant('off')\n")
    data = str(tmp_path)
    first = subprocess.run([sys.executable, "-c", code, data, "record a no"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    second = subprocess.run([sys.executable, "-c", code, data], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert (["off True", "[]"], ["off False", "[]"]) == (first, second)


def test_null_client_before_init() -> None:
    """Before ``init()`` the facade answers without recording: level off, nothing to preview."""
    crashveil.shutdown()
    assert ("off", False, None, [], None) == (crashveil.level(), crashveil.needs_prompt(),
                                              crashveil.preview(ValueError("x")), crashveil.history(),
                                              crashveil.capture_exception(ValueError("x")))


def test_version_is_a_string() -> None:
    """``__version__`` matches the distribution's version."""
    from importlib.metadata import version

    assert version("crashveil") == crashveil.__version__
    assert json  # imported here, in the test process, on purpose: only the subprocess is checked


def test_exit_after_shutdown_and_a_later_facade_call_is_clean(tmp_path: Path) -> None:
    """``init()`` registers the exit handler; after ``shutdown()`` a facade call puts the null
    client back, and the exit handler closes it: that must not raise at interpreter exit."""
    script = ("import crashveil\n"
              f"crashveil.init(app_name='t', release='1', data_dir={str(tmp_path)!r})\n"
              "crashveil.shutdown()\n"
              "crashveil.add_breadcrumb('after shutdown', 'ui')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (0, "") == (done.returncode, done.stderr)
