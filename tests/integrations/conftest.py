"""Shared fixtures of the framework-integration tests: a live SDK at ``diagnostic``, the
reports it builds, the planted personal data, a private Xvfb display and a private Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

#: Personal data planted in task arguments, exception messages and widget text. The message
#: ones are shapes the redactor knows (they may reach ``message`` only as placeholders); the
#: rest must not reach a report in any form.
CANARY_EMAIL = "jane.quokka@example.com"
CANARY_CARD = "4111 1111 1111 1111"
CANARY_NAME = "Jane Quokkadottir"
CANARY_ADDRESS = "17 Wombat Lane"
CANARY_BROKER_SECRET = "s3cret-broker-pw"
CANARIES = (CANARY_EMAIL, CANARY_CARD, CANARY_NAME, CANARY_ADDRESS, CANARY_BROKER_SECRET, "Quokka", "Wombat")


def assert_no_canary(report: Any) -> None:
    """No planted value, whole or in part, anywhere in the report's wire JSON."""
    text = report.to_json().decode()
    leaked = [canary for canary in CANARIES if canary.lower() in text.lower()]
    assert not leaked, f"planted personal data reached the report: {leaked}"


def wait_for(condition: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def sdk(tmp_path: Path, dsn: str, opener: Any) -> Iterator[list[Any]]:
    """``crashveil.init()`` + ``grant("diagnostic")``; yields the reports the client builds."""
    import crashveil
    from crashveil.testing import RecordingTransport, captured_reports

    crashveil.init(dsn=dsn, data_dir=tmp_path / "data", app_root=HERE, release="app@1.0",
                   transport=RecordingTransport(opener=opener, directory=tmp_path / "sent"), flush_timeout_s=5.0)
    crashveil.grant("diagnostic")
    with captured_reports() as reports:
        yield reports


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb display (``-displayfd``: the server picks a free number)."""
    if not shutil.which("Xvfb"):
        pytest.fail("needs Xvfb (scripts/test installs Debian's xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb did not report its display"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private ``redis-server`` (Debian's) on a free loopback port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("needs redis-server (scripts/test installs Debian's redis-server)")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(directory), "--protected-mode", "yes"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answers, what="redis-server to answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
