"""The web examples crash and report into a real crashveil server (uvicorn, mutual TLS, SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _loading import load

_ROOT = Path(__file__).parents[2]




servers = load("crashveil_tests_servers", _ROOT / "tests" / "_servers.py")
seen: set[str] = set()  # report ids already matched to an example


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("web-examples")
    running = servers.Server(servers.init_server_dir(root / "server"), root / "server.log").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.parametrize("example", ["web_flask", "web_django", "web_fastapi"])
def test_example_reports_into_the_server(server: Any, tmp_path: Path, example: str) -> None:
    """Each example's crash is stored with its route template and never the personal data of the request."""
    before = len(servers.stored_rows(server.dir))
    seen.update(report_id for report_id, _, _ in servers.stored_rows(server.dir))
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, str(_ROOT / "examples" / f"{example}.py"), "--dsn", server.dsn(),
                           "--cert", str(server.dir.client_cert), "--key", str(server.dir.client_key),
                           "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)
    assert 0 == done.returncode, done.stderr[-2000:]
    assert "the app answered 500" in done.stdout
    assert "sent: KeyError" in done.stdout, done.stdout + done.stderr[-2000:]
    rows = servers.stored_rows(server.dir)
    assert before + 1 == len(rows)
    stored = {report_id for report_id, _, _ in rows} - seen
    seen.update(stored)
    storage = server.dir.storage()
    try:
        [detail] = [storage.report_detail("demo", report_id) for report_id in stored]
    finally:
        storage.close()
    assert detail is not None
    report = detail.report
    assert ("web", "/customers/{customer_id}/orders", "POST", 500, "crash", ()) == (
        report.mechanism, "/" + (report.route or "").lstrip("/").replace("<int:customer_id>", "{customer_id}"),
        report.http_method,
        report.status_code, report.consent_level, detail.dropped_fields)
    assert report.handler is not None and report.handler.endswith("create_order")
    text = str(report)
    assert not any(personal in text for personal in ("4711", "alice", "Bearer"))
