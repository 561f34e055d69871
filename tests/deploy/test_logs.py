"""A real server's log (server/logs.py): every line printed once, JSON on request, no report
content and no client address in it. One process (two listeners, so two uvicorn servers) and
two fronts with a writer."""

from __future__ import annotations

import collections
import json
import ssl
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

CANARY = "canary-7f3e1d-secret-path"


#: The requests of ``_traffic`` that log a line (404, 404, 405, 401): each must be logged once.
LOGGED_REQUESTS = 4


def _traffic(server, ca: Path) -> None:
    """Four refused requests (each logs one line), with the canary in paths, headers and a body."""
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=context, timeout=10) as client:
        base = f"https://127.0.0.1:{server.web_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                client.get(f"{base}/healthz")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for path in ("/nowhere", f"/{CANARY}", f"/api/1/envelope/?sentry_key={CANARY}"):
            client.get(base + path, headers={"User-Agent": CANARY, "X-Forwarded-For": "192.0.2.99"})
        client.post(f"{base}/api/1/envelope/", content=b'{"event_id":"' + CANARY.encode() + b'"}\n{}',
                    headers={"X-Sentry-Auth": f"Sentry sentry_key={CANARY}"})


def _start(server, workers: int, wait_for) -> None:
    """Start ``server`` and wait until each of its ``workers`` fronts has said it started (the
    first front listening is not all of them: a stop before then would cut one short)."""
    try:
        server.start(timeout_s=120)  # spawning fronts on a loaded machine takes a while
        assert wait_for(lambda: server.log_text().count("Started server process") >= workers, 60), server.log_text()
    except BaseException:
        server.kill()
        raise


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory, servers: ModuleType):
    return servers.init_server_dir(tmp_path_factory.mktemp("logs") / "srv")


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-fronts"])
def test_json_log_lines_are_printed_once(server_dir, servers: ModuleType, tmp_path: Path, workers: int,
                                        wait_for) -> None:
    """With log_format = json: every line is one JSON object; no (process, message) is printed
    twice; each process says it started and finished once; the canary sent in paths, headers
    and a body, and the client's address, are in no line."""
    log = tmp_path / "server.log"
    server = servers.Server(server_dir, log, environ={"CRASHVEIL_LOG_FORMAT": "json",
                                                     "CRASHVEIL_WORKERS": str(workers)})
    _start(server, workers, wait_for)
    try:
        _traffic(server, server_dir.ca_pem)
    finally:
        code = server.stop()
    lines = [line for line in log.read_text().splitlines() if not line.startswith("--- start")]
    entries = [json.loads(line) for line in lines]
    requests = [e for e in entries if e["logger"] == "crashveil.server"]
    others = [(e["pid"], e["message"]) for e in entries if e["logger"] != "crashveil.server"]
    repeated = [key for key, n in collections.Counter(others).items() if n > 1]
    started = collections.Counter(e["pid"] for e in entries if e["message"].startswith("Started server process"))
    finished = collections.Counter(e["pid"] for e in entries if e["message"].startswith("Finished server process"))
    leaked = [line for line in lines if CANARY in line or "192.0.2.99" in line or "127.0.0.1:" in line
              and "Uvicorn running" not in line]
    assert (0, [], workers, {1}, {1}, LOGGED_REQUESTS, []) == (
        code, repeated, len(started), set(started.values()), set(finished.values()), len(requests), leaked), lines


def test_text_log_lines_are_printed_once(server_dir, servers: ModuleType, tmp_path: Path, wait_for) -> None:
    """The default text log of two fronts: each request logged once, no other line twice, and
    the fronts' lines name them."""
    log = tmp_path / "server.log"
    server = servers.Server(server_dir, log, environ={"CRASHVEIL_WORKERS": "2"})
    _start(server, 2, wait_for)
    try:
        _traffic(server, server_dir.ca_pem)
    finally:
        server.stop()
    lines = [line for line in log.read_text().splitlines() if not line.startswith("--- start")]
    requests = [line for line in lines if " crashveil.server " in line]
    counts = collections.Counter(line for line in lines if line not in requests)
    repeated = [line for line, n in counts.items() if n > 1]
    fronts = {line.split()[1] for line in lines if "Started server process" in line}
    assert (LOGGED_REQUESTS, [], {"crashveil-front-0", "crashveil-front-1"}) == (len(requests), repeated, fronts), lines
