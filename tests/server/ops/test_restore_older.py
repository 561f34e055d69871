"""Issue 20's restore: a database copy taken before one more audited action is put back under
a server directory whose signed checkpoint is newer. What was observed: `audit verify` said
"truncated" and no more, dashboard log-in answered 500, the retention run at start failed with
a traceback, and /readyz still said 200. Now: every one of them says that the trail is behind
its checkpoint and points to `server restore` / `server reanchor-audit`; log-in is a 503 page
that says so; /readyz is 503 naming the `audit` check; retention still deletes expired data.
After `reanchor-audit` (an audited step) everything works again and `audit verify` shows it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from .conftest import run_cli, servers

PASSWORD = "alice-pw-12345"


def _copy_database(source: Path, target: Path) -> None:
    """What an operator's dump is: a consistent copy of the SQLite file."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _plant_expired_report(server_dir: Any) -> str:
    sealer = servers.Sealer(server_dir)
    report = sealer.report(function="expired")
    storage = server_dir.storage()
    try:
        storage.store_report("demo", report, origin="crashveil-sdk",
                             received_at=datetime.now(UTC) - timedelta(days=800), redaction_hits={}, dropped_fields=())
    finally:
        storage.close()
    return str(report.report_id)


def _web(server: Any) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    return httpx.Client(base_url=f"https://127.0.0.1:{server.web_port}", verify=context, timeout=20)


def _login(server: Any) -> httpx.Response:
    with _web(server) as client:
        page = client.get("/dashboard/login")
        match = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert match, page.status_code
        return client.post("/dashboard/login", data={"nonce": match.group(1), "name": "alice", "password": PASSWORD},
                           headers={"Origin": f"https://127.0.0.1:{server.web_port}"})


def _readyz(server: Any) -> tuple[int, dict[str, Any]]:
    with _web(server) as client:
        answer = client.get("/readyz")
        return answer.status_code, answer.json()


def test_an_older_database_is_stated_clearly_and_reanchored(tmp_path: Path) -> None:
    source = servers.init_server_dir(tmp_path / "srv")
    run_cli("user", "add", "alice", "--server-dir", str(source.path), env={"CRASHVEIL_NEW_PASSWORD": PASSWORD})
    expired = _plant_expired_report(source)
    database = source.path / "crashveil.db"
    _copy_database(database, tmp_path / "dump.db")
    run_cli("user", "add", "bob", "--server-dir", str(source.path), env={"CRASHVEIL_NEW_PASSWORD": PASSWORD})
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    (tmp_path / "dump.db").replace(database)  # the restore of the issue: the database only

    verify = run_cli("audit", "verify", "--server-dir", str(source.path), check=False)
    assert 1 == verify.returncode and 1 == len(verify.stderr.strip().splitlines())
    assert all(words in verify.stderr for words in ("truncated", "older than the signed checkpoint",
                                                    "crashveil server restore", "crashveil server reanchor-audit"))

    server = servers.Server(source, tmp_path / "server.log").start()
    try:
        assert servers.wait_for(lambda: expired not in {r[0] for r in servers.stored_rows(source)}, 60), \
            "retention at start must still delete expired data"
        status, body = _readyz(server)
        login = _login(server)
    finally:
        server.stop()
    log = server.log_text()
    observed = (status, [check["name"] for check in body.get("failed", [])], login.status_code,
                "Traceback" in log, "retention run could not be audited" in log)
    assert (503, ["audit"], 503, False, True) == observed
    assert "reanchor-audit" in body["failed"][0]["detail"] and "crashveil server reanchor-audit" in login.text

    fixed = run_cli("server", "reanchor-audit", "--reason", "restored the dump of 01:00", "--actor", "ops",
                    "--server-dir", str(source.path)).stdout
    verified = run_cli("audit", "verify", "--server-dir", str(source.path)).stdout
    assert "(audit.reanchor) re-anchors the checkpoint" in fixed
    assert "audit.reanchor at" in verified
    assert "by ops (reason: restored the dump of 01:00; replaced checkpoint" in verified
    server.start()
    try:
        assert servers.wait_for(lambda: _readyz(server)[0] == 200, 30), _readyz(server)
        assert 303 == _login(server).status_code
    finally:
        server.stop()
    head = json.loads((source.path / "audit" / "head.json").read_text())
    assert head["seq"] >= 1
