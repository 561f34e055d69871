"""End to end: an app using the real SDK crashes in a subprocess; the report reaches the real
server over mutual TLS, is grouped, and its receipt resolves."""

from __future__ import annotations

import importlib.util
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("uvicorn")

from crashveil.server.settings import Settings
from crashveil.wire.protocol import ConnectionString, receipt_path

pytestmark = pytest.mark.slow


def _tls_helpers() -> ModuleType:
    """The server fixtures of tests/server/http/test_run_tls.py (one way to start the real server)."""
    name = "crashveil_tests_run_tls"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "server" / "http" / "test_run_tls.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


APP = textwrap.dedent("""
    import os
    import crashveil

    crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], app_name="e2eapp",
                   release="2.0.1", client_cert=os.environ["TEST_CERT"], client_key=os.environ["TEST_KEY"])
    crashveil.grant("diagnostic")

    def load_settings(path):
        raise KeyError("no settings for alice@example.com")

    load_settings("/home/alice/app.cfg")
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    helpers = _tls_helpers()
    root = tmp_path_factory.mktemp("e2e")
    server_dir = helpers._init_with_cli(root / "srv") if helpers._cli_available() else \
        helpers._init_from_test_pki(root / "srv")
    running = helpers._start(server_dir, root / "server.log")
    yield running
    running.process.terminate()
    running.process.wait(timeout=10)


def _dsn(running: Any) -> str:
    from crashveil.server.storage.store import Storage

    storage = Storage.open(Settings.load(running.dir.path))
    try:
        project = storage.project("demo")
        assert project is not None
        ca_der = ssl.PEM_cert_to_DER_cert((running.dir.path / "tls" / "ca.pem").read_text())
        return ConnectionString("127.0.0.1", running.port, "demo", project.keypairs[0].public_key_string(),
                                project.signing_key.public_key_string(), ca_der).format()
    finally:
        storage.close()


def _stored_receipts(running: Any) -> list[str]:
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports
    from crashveil.server.storage.store import Storage

    storage = Storage.open(Settings.load(running.dir.path))
    try:
        with storage.engine.connect() as conn:
            return list(conn.execute(sa.select(reports.c.receipt)).scalars())
    finally:
        storage.close()


def test_crash_in_app_reaches_server_and_receipt_resolves(server: Any, tmp_path: Path, wait_for: Any) -> None:
    """A crashing app's report arrives over mutual TLS, is grouped, and its receipt says so."""
    env = {**os.environ, "TEST_DSN": _dsn(server), "TEST_DATA": str(tmp_path / "data"),
           "TEST_CERT": str(server.dir.client_cert), "TEST_KEY": str(server.dir.client_key)}
    before = set(_stored_receipts(server))
    app = subprocess.run([sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=60)
    assert "KeyError" in app.stderr  # the app still crashes as it would without crashveil
    new: list[str] = []

    def stored() -> bool:
        new[:] = sorted(set(_stored_receipts(server)) - before)
        return bool(new)

    wait_for(stored, 20, step_s=0.2)
    assert 1 == len(new), app.stderr[-2000:]
    with _tls_helpers()._client(server.dir) as client:
        status = client.get(server.url(receipt_path(new[0]))).json()
    assert ("grouped", None) == (status["status"], status["fixed_in"])
    log = server.log.read_text(errors="replace")
    assert (False, False) == ("alice" in log, _tls_helpers().CLIENT_IP in log)


REVOKE = textwrap.dedent("""
    import json, os
    import crashveil

    crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], app_name="e2eapp",
                   release="2.0.1", client_cert=os.environ["TEST_CERT"], client_key=os.environ["TEST_KEY"])
    delivered = crashveil.flush(20)
    sent = [entry.to_dict() for entry in crashveil.history()]
    crashveil.revoke()
    acknowledged = crashveil.flush(20)
    print(json.dumps({"delivered": delivered, "sent": sent, "acknowledged": acknowledged,
                      "after": [entry.to_dict() for entry in crashveil.history()]}))
""")


def test_revoke_erases_for_good_and_a_replay_is_refused(server: Any, tmp_path: Path) -> None:
    """The whole revoke() flow over mutual TLS: a crash queued while the server was out of
    reach is delivered, ``revoke()`` sends the deletion request and the server acknowledges
    it; the report is gone, and the sealed bytes sent again (a copy left on the disk) are
    answered 422 and store nothing."""
    import socket

    from crashveil.sdk.delivery.queue import decode_item
    from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, reports_path

    with socket.socket() as sock:  # a port nobody listens on: the crash stays queued
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    dsn = _dsn(server)
    env = {**os.environ, "TEST_DATA": str(tmp_path / "data"),
           "TEST_CERT": str(server.dir.client_cert), "TEST_KEY": str(server.dir.client_key)}
    before = set(_stored_receipts(server))
    crashed = subprocess.run([sys.executable, "-c", APP], env={**env, "TEST_DSN": dsn.replace(
        f":{server.port}/", f":{closed}/")}, capture_output=True, text=True, timeout=60)
    assert "KeyError" in crashed.stderr
    copies = [decode_item(path.read_bytes()) for path in (tmp_path / "data" / "queue").glob("[!.]*.cvq")]
    sealed = [body for meta, body in copies if meta.kind == "report"]
    assert 1 == len(sealed), copies

    revoked = subprocess.run([sys.executable, "-c", REVOKE], env={**env, "TEST_DSN": dsn},
                             capture_output=True, text=True, timeout=90)
    assert 0 == revoked.returncode, revoked.stderr[-2000:]
    outcome = json.loads(revoked.stdout.strip().splitlines()[-1])
    receipts = [entry["receipt"] for entry in outcome["sent"] if entry.get("receipt")]
    assert (True, True, 1) == (outcome["delivered"], outcome["acknowledged"], len(receipts)), outcome
    assert before == set(_stored_receipts(server))  # stored, then erased
    with _tls_helpers()._client(server.dir) as client:
        assert 404 == client.get(server.url(receipt_path(receipts[0]))).status_code
        replay = client.post(server.url(reports_path("demo")), content=sealed[0],
                             headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    assert (422, "outside_replay_window") == (replay.status_code, replay.json()["error"])
    assert before == set(_stored_receipts(server))
