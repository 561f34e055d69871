"""The real server: ``run_server`` on uvicorn in a subprocess, spoken to over mutual TLS.

The server directory comes from ``crashveil server init`` (CA, server certificate, KEK,
``demo`` project) and the client certificate from ``crashveil server issue-client-cert``.
Until that command exists, an equivalent directory is assembled from the SDK tests' PKI.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from crashveil.errors import ConfigError
from crashveil.policy import compute_fingerprint, policy_digest
from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.http.run import uvicorn_config
from crashveil.server.settings import Settings
from crashveil.wire import Environment, Frame, Report, Stack
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, receipt_path, reports_path

#: The test client connects from this loopback address so that it can be searched for.
CLIENT_IP = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli_available() -> bool:
    return importlib.util.find_spec("crashveil.server.cli.server") is not None


@dataclass
class ServerDir:
    path: Path
    client_cert: Path
    client_key: Path


def _init_with_cli(path: Path) -> ServerDir:
    subprocess.run([sys.executable, "-m", "crashveil", "server", "init", str(path)], check=True,
                   capture_output=True, timeout=120)
    out = subprocess.run([sys.executable, "-m", "crashveil", "server", "issue-client-cert", "test-client",
                          "--server-dir", str(path)], check=True, capture_output=True, timeout=120, text=True)
    found = sorted(p for p in path.rglob("test-client*") if p.is_file())
    certs = [p for p in found if p.suffix in (".pem", ".crt") and "key" not in p.name]
    keys = [p for p in found if p.suffix == ".key" or "key" in p.name]
    if not certs or not keys:
        pytest.fail(f"issue-client-cert wrote no certificate and key under {path}: {out.stdout!r}")
    return ServerDir(path, certs[0], keys[0])


def _init_from_test_pki(path: Path) -> ServerDir:
    """Stand-in for ``crashveil server init`` built from real parts (same file layout)."""
    name = "crashveil_tests_https_server"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[2] / "sdk" / "https_server.py")
    assert spec and spec.loader
    module = sys.modules.setdefault(name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    pki = module.make_pki(path / "pki")
    from crashveil.server.db import engine as db
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    settings = Settings(server_dir=path, database_url=f"sqlite:///{path / 'crashveil.db'}", sealing_suite="x25519")
    settings.tls_dir.mkdir(parents=True)
    settings.ca_cert_path.write_text(ssl.DER_cert_to_PEM_cert(pki.ca_der))
    shutil.copy(pki.server_cert, settings.server_cert_path)
    shutil.copy(pki.server_key, settings.server_key_path)
    settings.settings_path.write_text(settings.to_toml())
    FileKeyProvider.create(settings.kek_path, now=datetime.now(UTC))
    engine = db.create_engine(settings.database_url)
    db.migrate(engine)
    engine.dispose()
    storage = Storage.open(settings)
    storage.create_project("demo")
    storage.close()
    return ServerDir(path, pki.client_cert, pki.client_key)


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> ServerDir:
    path = tmp_path_factory.mktemp("server")
    return _init_with_cli(path / "srv") if _cli_available() else _init_from_test_pki(path / "srv")


@dataclass
class Running:
    dir: ServerDir
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    web_port: int = 0

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def web_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.web_port}{path}"


def _client_context(server: ServerDir, *, with_cert: bool = True, max_version: ssl.TLSVersion | None = None
                    ) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server.path / "tls" / "ca.pem"))
    if with_cert:
        context.load_cert_chain(str(server.client_cert), str(server.client_key))
    if max_version:
        context.maximum_version = max_version
    return context


def _client(server: ServerDir, **kwargs: Any) -> httpx.Client:
    transport = httpx.HTTPTransport(verify=_client_context(server, **kwargs), local_address=CLIENT_IP)
    return httpx.Client(transport=transport, timeout=10)


def _start(server: ServerDir, log: Path, **environ: str) -> Running:
    port, web_port = _free_port(), _free_port()
    env = {**os.environ, "CRASHVEIL_PORT": str(port), "CRASHVEIL_WEB_PORT": str(web_port), **environ}
    code = ("import sys; from pathlib import Path; from crashveil.server.settings import Settings; "
            "from crashveil.server.http.run import run_server; run_server(Settings.load(Path(sys.argv[1])))")
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code, str(server.path)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return Running(server, port, log, process, web_port)


@pytest.fixture(scope="module")
def running(server_dir: ServerDir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The real server on a free port, client certificates required."""
    server = _start(server_dir, tmp_path_factory.mktemp("log") / "server.log")
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def _sealed_report(server: ServerDir) -> tuple[Report, bytes]:
    from crashveil.server.storage.store import Storage

    storage = Storage.open(Settings.load(server.path))
    try:
        project = storage.project("demo")
        assert project is not None
        frames = (Frame("app/main.py", "main", 3, True),)
        report = Report(schema_version=1, policy_digest=policy_digest(project.policy), consent_level="diagnostic",
                        report_id=str(uuid.uuid4()), crash_type="KeyError",
                        fingerprint=compute_fingerprint("KeyError", frames), stack=Stack(frames), release="1.0",
                        environment=Environment("linux", "6", "cpython", "3.11", "x86_64"),
                        occurred_hour=datetime.now(UTC).strftime("%Y-%m-%dT%H:00Z"),
                        install_id=uuid.uuid4().hex)
        key = project.keypairs[0].public_key()
    finally:
        storage.close()
    return report, seal_report(report.to_json(), key, project_id="demo", schema_version=1)


def test_healthz_over_mutual_tls(running: Running) -> None:
    """With a client certificate from the server's CA, /healthz answers 200 over TLS."""
    with _client(running.dir) as client:
        assert 200 == client.get(running.url("/healthz")).status_code


def test_no_client_certificate_fails_the_handshake(running: Running) -> None:
    """Without a client certificate the TLS handshake is refused; no HTTP answer at all."""
    with _client(running.dir, with_cert=False) as client, pytest.raises(httpx.TransportError):
        client.get(running.url("/healthz"))


def test_tls_1_2_client_is_accepted(running: Running) -> None:
    """A client limited to TLS 1.2 still connects (the minimum is 1.2, not 1.3)."""
    with _client(running.dir, max_version=ssl.TLSVersion.TLSv1_2) as client:
        assert 200 == client.get(running.url("/healthz")).status_code


def test_report_over_mutual_tls_is_stored_and_client_address_is_not_kept(running: Running) -> None:
    """A sealed report is stored (201) and its receipt resolves; the client IP is in no log and no file."""
    report, sealed = _sealed_report(running.dir)
    headers = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
    with _client(running.dir) as client:
        stored = client.post(running.url(reports_path("demo")), content=sealed, headers=headers)
        status = client.get(running.url(receipt_path(stored.json()["receipt"])))
        refused = client.post(running.url(reports_path("demo")), content=b"\r\n\x1b[31mjunk", headers=headers)
    assert (201, "grouped", 400) == (stored.status_code, status.json()["status"], refused.status_code)
    # No wait needed: the server logs (a flushing StreamHandler) and commits before it answers.
    assert CLIENT_IP not in running.log.read_text(errors="replace")
    for path in running.dir.path.rglob("*"):
        if path.is_file():
            assert CLIENT_IP.encode() not in path.read_bytes(), path


def _settings(server: ServerDir, **overrides: Any) -> Settings:
    import dataclasses

    return dataclasses.replace(Settings.load(server.path), **overrides)


def test_uvicorn_config_requires_client_certs_and_tls_1_2(server_dir: ServerDir) -> None:
    """The TLS context requires client certificates from the CA and refuses anything below TLS 1.2."""
    config = uvicorn_config(_settings(server_dir), app=lambda *a: None)
    tls = config.http_protocol_class.tls  # the guard does the handshake; uvicorn's own ssl stays None
    assert (ssl.CERT_REQUIRED, ssl.TLSVersion.TLSv1_2, False, False, None) == (
        tls.verify_mode, tls.minimum_version, config.access_log, config.proxy_headers, config.ssl)


def test_uvicorn_config_follows_settings(server_dir: ServerDir) -> None:
    """require_client_cert=False drops the client certificate requirement; tls=False drops TLS."""
    optional = uvicorn_config(_settings(server_dir, require_client_cert=False), app=lambda *a: None)
    plain = uvicorn_config(_settings(server_dir, tls=False), app=lambda *a: None)
    assert (ssl.CERT_NONE, None) == (optional.http_protocol_class.tls.verify_mode, plain.http_protocol_class.tls)


def test_missing_certificate_is_a_config_error(server_dir: ServerDir, tmp_path: Path) -> None:
    """TLS on and no server certificate on disk is a ConfigError naming the file."""
    with pytest.raises(ConfigError) as info:
        uvicorn_config(_settings(server_dir, server_dir=tmp_path), app=lambda *a: None)
    assert "server_cert_path" == info.value.key


def test_access_log_is_silent(running: Running) -> None:
    """uvicorn's access logger (which would print client addresses) writes nothing."""
    with _client(running.dir) as client:
        for _ in range(3):
            client.get(running.url("/healthz"))
    # uvicorn writes an access line when the response starts, so it is on disk by now.
    text = running.log.read_text(errors="replace")
    assert ([], "Uvicorn running" in text) == ([line for line in text.splitlines() if "GET /healthz" in line], True)


def test_web_listener_needs_no_client_certificate_but_never_serves_the_report_api(running: Running) -> None:
    """The web port answers without a client certificate, and the native report API is not there."""
    context = ssl.create_default_context(cafile=str(running.dir.path / "tls" / "ca.pem"))
    with httpx.Client(transport=httpx.HTTPTransport(verify=context), timeout=10) as client:
        health = client.get(running.web_url("/healthz"))
        login = client.get(running.web_url("/dashboard/login"))
        report = client.post(running.web_url("/api/v1/projects/demo/reports"), content=b"x",
                             headers={"Content-Type": "application/vnd.crashveil.sealed"})
    assert (200, 200, 404) == (health.status_code, login.status_code, report.status_code)
