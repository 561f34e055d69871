"""scripts/demo's ports: configurable, and a free one (said on stderr) when a default is taken."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_ports.py"


def _pick(*specs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *specs], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def _held(port: int) -> Iterator[None]:
    """Hold ``port`` on 127.0.0.1 (a listening socket), unless another program already does."""
    holder = socket.socket()
    try:
        with contextlib.suppress(OSError):  # already held elsewhere: occupied all the same
            holder.bind(("127.0.0.1", port))
            holder.listen()
        yield
    finally:
        holder.close()


def test_a_taken_default_port_is_replaced_and_said() -> None:
    with _held(8443):
        done = _pick("native=8443:default", "web=8444:default")
    native, web = (int(p) for p in done.stdout.split())
    assert 0 == done.returncode, done.stderr
    assert native != 8443 and native != web
    assert f"demo: the native port 8443 is in use on 127.0.0.1; using {native} instead" in done.stderr


def test_free_defaults_are_kept() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    done = _pick(f"native={first}:default")
    assert (0, str(first), "") == (done.returncode, done.stdout.strip(), done.stderr)


def test_a_taken_requested_port_is_an_error() -> None:
    """A port the user asked for is the one they meant: taken, it fails naming it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _pick(f"web={port}")
    assert (1, "") == (done.returncode, done.stdout)
    assert f"the web port {port} (as requested) is in use" in done.stderr


@pytest.mark.parametrize("spec", ["web=", "web=70000", "web=80:maybe", "=80"])
def test_bad_specs_are_usage_errors(spec: str) -> None:
    assert 2 == _pick(spec).returncode


def test_demo_reads_its_ports_from_options_and_variables() -> None:
    """scripts/demo passes --port/--web-port (or CRASHVEIL_DEMO_PORT/_WEB_PORT) to the picker
    and the chosen ports to server init, its readiness probe and its links."""
    demo = (SCRIPT.parent / "demo").read_text()
    for needle in ('"${CRASHVEIL_DEMO_PORT:-}"', '"${CRASHVEIL_DEMO_WEB_PORT:-}"', "--port)", "--web-port)",
                   'scripts/demo_ports.py "native=${port:-8443:default}"', '--port "$port" --web-port "$web_port"',
                   "https://127.0.0.1:$web_port/dashboard/"):
        assert needle in demo
    assert "8444/" not in demo


def test_demo_refuses_a_taken_requested_port_before_installing_anything() -> None:
    """The real script: the same port asked for twice is refused first thing (no venv made)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(["bash", str(SCRIPT.parent / "demo"), "--port", str(port), "--web-port", str(port)],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert 2 == done.returncode
    assert f"the web port {port} (as requested) is in use" in done.stderr
