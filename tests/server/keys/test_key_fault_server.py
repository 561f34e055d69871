"""A server whose KEK set lacks the KEK of its keys: 503, not 400, and no report is lost.

Real parts: the server directory made by the CLI, ``crashveil keys rotate``, the server on
uvicorn over mutual TLS (``tests/_servers.py``), the SDK's own queue, sender and transport.
The issue: a KEK rotated elsewhere made this server answer ``400 unsealable`` to valid
reports, and the SDK deletes a report on a 400. The sender's clock is a parameter, so the
30 s Retry-After takes no wall time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from _loading import load

from crashveil.sdk.delivery.queue import QueueMeta, SealedQueue
from crashveil.sdk.delivery.sender import Sender

pytest.importorskip("uvicorn")
servers = load("crashveil_tests_servers", Path(__file__).resolve().parents[2] / "_servers.py")

pytestmark = pytest.mark.slow


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _put_set(path: Path, data: bytes) -> None:
    """Write a KEK set as an operator's copy does: a new file renamed into place, mode 0600."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _web(server: Any) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    return httpx.Client(base_url=f"https://127.0.0.1:{server.web_port}", verify=context, timeout=20)


def _readyz(server: Any) -> tuple[int, dict[str, Any]]:
    with _web(server) as client:
        answer = client.get("/readyz")
        return answer.status_code, answer.json()


def _sentry_key(server_dir: Any) -> tuple[int, str]:
    from crashveil.server.sentry.keys import SentryKeys

    storage = server_dir.storage()
    try:
        project, key = SentryKeys(storage.engine).create_key("demo")
        return project.numeric_id, key
    finally:
        storage.close()


def _sentry_post(server: Any, numeric_id: int, key: str) -> httpx.Response:
    event = {"event_id": uuid.uuid4().hex, "platform": "python", "level": "error",
             "exception": {"values": [{"type": "KeyError", "value": "x", "stacktrace": {"frames": [
                 {"function": "load", "module": "app.main", "filename": "app/main.py", "lineno": 3,
                  "in_app": True}]}}]}}
    payload = json.dumps(event).encode()
    body = b"\n".join([json.dumps({"event_id": event["event_id"]}).encode(),
                       json.dumps({"type": "event", "length": len(payload)}).encode(), payload]) + b"\n"
    with _web(server) as client:
        return client.post(f"/api/{numeric_id}/envelope/", content=body, headers={
            "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={key}"})


def test_sdk_keeps_reports_while_the_kek_is_missing_and_delivers_them_once_it_arrives(tmp_path: Path) -> None:
    """The KEK was rotated while this server was down, and its KEK file is the old one: the SDK
    gets 503 + Retry-After (before the fix: 400, and it deleted the reports), /readyz fails
    check ``keys`` naming the key, the log says it at ERROR, the Sentry endpoint answers 503
    too. The operator copies the new KEK file in: no restart, every report arrives once."""
    server_dir = servers.init_server_dir(tmp_path / "dir")
    server = servers.Server(server_dir, tmp_path / "server.log", environ={"CRASHVEIL_PROJECT_CACHE_S": "0"})
    sealer = servers.Sealer(server_dir)
    transport = servers.transport_for(server)
    numeric_id, sentry_key = _sentry_key(server_dir)
    kek = server_dir.path / "keys" / "kek.json"
    old_set = kek.read_bytes()
    servers._cli("keys", "rotate", "--no-project-keys", "--server-dir", str(server_dir.path))
    new_set = kek.read_bytes()
    shutil.copy2(kek, tmp_path / "kek.new.json")
    _put_set(kek, old_set)  # this host never got the new set
    clock = Clock()
    queue = SealedQueue(tmp_path / "queue", now=clock, max_reports=30, max_bytes=2_000_000, max_age_days=30)
    ids = []
    for _ in range(5):
        report = sealer.report()
        queue.put(sealer.seal(report), QueueMeta("report", report.crash_type, "diagnostic", clock.now))
        ids.append(report.report_id)
    server.start()
    try:
        sender = Sender(queue, transport, now=clock, min_interval_s=0.0)
        direct = servers.post_sealed(transport.ssl_context(), server.port, sealer.seal(sealer.report()))
        waits = [sender.step() for _ in range(3)]
        status, body = _readyz(server)
        sentry = _sentry_post(server, numeric_id, sentry_key)
        kept = (len(queue), queue.dropped)

        _put_set(kek, new_set)
        assert servers.wait_for(lambda: _readyz(server)[0] == 200, 30), _readyz(server)
        clock.now += 31
        for _ in range(20):
            if not len(queue):
                break
            clock.now += sender.step()
        sentry_after = _sentry_post(server, numeric_id, sentry_key)
    finally:
        server.stop()
    assert (503, "key_unavailable", "30") == (direct.status, direct.error, direct.retry_after)
    assert (5, {}) == kept and 30.0 == waits[0]
    failed = {check["name"]: check["detail"] for check in body["failed"]}
    assert (503, ["audit", "keys"]) == (status, list(failed))  # the shared audit key is under the new KEK too
    assert "pk:" in failed["keys"] and "lacks" in failed["keys"] and "secret:audit-signing" in failed["audit"]
    assert (503, "key_unavailable") == (sentry.status_code, sentry.json()["error"])
    assert 200 == sentry_after.status_code
    stored = [row[0] for row in servers.stored_rows(server_dir)]
    assert (0, sorted(ids)) == (len(queue), sorted(i for i in stored if i in set(ids)))
    log = server.log_text()
    errors = [line for line in log.splitlines() if line.startswith("ERROR") and "key unavailable: key pk:" in line]
    assert 1 == len(errors) and "Traceback" not in log  # once per key per minute, not once per request
    secrets_in_set = [entry["key"] for entry in json.loads(new_set)["keys"].values()]
    assert not any(secret in log or secret in json.dumps(body) for secret in secrets_in_set)
