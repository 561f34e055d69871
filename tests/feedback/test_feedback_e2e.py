"""End to end, once: the real SDK sends privacy feedback at consent off to the real server over
mutual TLS, the privacy officer's reply is stored, and the SDK fetches it with its reply handle."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from _loading import load

pytest.importorskip("uvicorn")

from crashveil.server.settings import Settings
from crashveil.wire.protocol import ConnectionString

pytestmark = pytest.mark.slow


def _tls() -> Any:
    return load("crashveil_tests_run_tls", Path(__file__).parents[1] / "server" / "http" / "test_run_tls.py")


def test_feedback_reaches_the_server_and_the_reply_comes_back(tmp_path: Path) -> None:
    from crashveil.sdk.client import Client
    from crashveil.sdk.options import Options
    from crashveil.server.db.engine import read_tx, write_tx
    from crashveil.server.feedback import store
    from crashveil.server.storage.store import Storage

    helpers = _tls()
    server_dir = helpers._init_from_test_pki(tmp_path / "srv")
    running = helpers._start(server_dir, tmp_path / "server.log")
    storage = Storage.open(Settings.load(server_dir.path))
    try:
        project = storage.project("demo")
        assert project is not None
        ca_der = ssl.PEM_cert_to_DER_cert((server_dir.path / "tls" / "ca.pem").read_text())
        dsn = ConnectionString("127.0.0.1", running.port, "demo", project.keypairs[0].public_key_string(),
                               project.signing_key.public_key_string(), ca_der).format()
        client = Client(Options.from_kwargs({"dsn": dsn, "data_dir": tmp_path / "data", "release": "app@1.0",
                                             "client_cert": str(server_dir.client_cert),
                                             "client_key": str(server_dir.client_key)}, environ={}))
        client.send_privacy_feedback("question", "Who reads this? mail me at eve.canary@example.com")
        delivered = client.flush(20.0)
        with read_tx(storage.engine) as conn:
            items = store.list_feedback(conn, "demo")
            opened = store.open_feedback(conn, storage.keys, "demo", items[0].id)
        with write_tx(storage.engine) as conn:
            store.reply_feedback(conn, storage.keys, "demo", items[0].id, "Only the privacy officer.", day="2026-12-07")
        answered = client.check_feedback_replies(force=True)
        entry = client.privacy_feedback()[0]
        client.close()
    finally:
        storage.close()
        running.process.terminate()
        running.process.wait(timeout=10)
    assert opened is not None
    assert (True, "off", 1, False, 1, ("answered", "Only the privacy officer.")) == (
        delivered, client.level(), len(items), "eve.canary" in opened.text, answered, (entry.status, entry.reply))
    assert "eve.canary" not in running.log.read_text(errors="replace")
