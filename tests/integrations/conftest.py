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


# -- the examples, reporting into a real server ------------------------------------------

EXAMPLES = HERE.parents[1] / "examples" / "integrations"


def _tls_helpers() -> Any:
    """The server fixtures of tests/server/http/test_run_tls.py (as tests/e2e loads them)."""
    import importlib.util
    import sys

    name = "crashveil_tests_run_tls"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "server" / "http" / "test_run_tls.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class DemoServer:
    """A real server (uvicorn, mutual TLS, SQLite) and what an example needs to report into it."""

    def __init__(self, running: Any) -> None:
        self.running = running

    def dsn(self) -> str:
        import ssl

        from crashveil.wire.protocol import ConnectionString

        with self.storage() as storage:
            project = storage.project("demo")
            assert project is not None
            ca_der = ssl.PEM_cert_to_DER_cert((self.running.dir.path / "tls" / "ca.pem").read_text())
            return ConnectionString("127.0.0.1", self.running.port, "demo", project.keypairs[0].public_key_string(),
                                    project.signing_key.public_key_string(), ca_der).format()

    def storage(self) -> Any:
        import contextlib

        from crashveil.server.settings import Settings
        from crashveil.server.storage.store import Storage

        @contextlib.contextmanager
        def opened() -> Iterator[Any]:
            storage = Storage.open(Settings.load(self.running.dir.path))
            try:
                yield storage
            finally:
                storage.close()

        return opened()

    def stored(self) -> list[Any]:
        """Every stored report, decrypted (a test's direct read; the dashboard audits its reads)."""
        import sqlalchemy as sa

        from crashveil.server.db.tables import reports

        with self.storage() as storage:
            with storage.engine.connect() as conn:
                ids = list(conn.execute(sa.select(reports.c.report_id)).scalars())
            return [storage.report_detail("demo", report_id).report for report_id in ids]

    def run_example(self, script: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
        import sys

        command = [sys.executable, str(EXAMPLES / script), "--dsn", self.dsn(), "--cert",
                   str(self.running.dir.client_cert), "--key", str(self.running.dir.client_key),
                   "--data-dir", str(tmp_path / "data"), "--consent", "diagnostic", *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
        environment.update({"HOME": str(tmp_path), **(env or {})})
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)

    def log(self) -> str:
        text: str = self.running.log.read_text(errors="replace")
        return text


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    helpers = _tls_helpers()
    root = tmp_path_factory.mktemp("demo")
    server_dir = helpers._init_with_cli(root / "srv") if helpers._cli_available() else \
        helpers._init_from_test_pki(root / "srv")
    running = helpers._start(server_dir, root / "server.log")
    try:
        yield DemoServer(running)
    finally:
        running.process.terminate()
        running.process.wait(timeout=10)
