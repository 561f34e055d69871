"""Two hosts over one PostgreSQL share one truth: KEK set, audit key and checkpoint, dashboard secret.

Real parts: server directories made by the CLI, two server processes on uvicorn over one
PostgreSQL, ``crashveil keys rotate`` and ``audit verify`` as an operator runs them, httpx for
the dashboard. Host B is set up from host A's *shared material* only (``shared_material``:
the KEK file, the TLS directory, the settings): no audit key, checkpoint or dashboard secret
of its own to copy, as a second host made before this change had its own.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from _loading import load

pytest.importorskip("uvicorn")
servers = load("crashveil_tests_servers", Path(__file__).resolve().parents[2] / "_servers.py")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PASSWORD = "alice-pw-12345"
FAST = {"CRASHVEIL_KEK_HEARTBEAT_S": "0.5", "CRASHVEIL_PROJECT_CACHE_S": "0"}


def _cli(*args: str, host: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
    env.update({**FAST, "CRASHVEIL_HOST_ID": host, "CRASHVEIL_NEW_PASSWORD": PASSWORD})
    done = subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=180,
                          env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"crashveil {' '.join(args)}: {done.stderr[-2000:]}")
    return done


def _second_host(first: Any, root: Path) -> Any:
    """Host B: a copy of A's directory without A's per-host secrets (audit key and head, dashboard secret)."""
    path = root / "dir-b"
    shutil.copytree(first.path, path, symlinks=True)
    for name in ("keys/audit_ed25519.key", "keys/dashboard.secret", "audit/head.json"):
        (path / name).unlink(missing_ok=True)
    shutil.rmtree(path / "crashveil-metrics", ignore_errors=True)
    return servers.ServerDir(path, path / "clients" / first.client_cert.name, path / "clients" / first.client_key.name,
                             first.database_url)


def _hosts(tmp_path: Path, pg_url: str) -> tuple[Any, Any]:
    dir_a = servers.init_server_dir(tmp_path / "dir-a", database_url=pg_url)
    _cli("user", "add", "alice", "--project", "*", "--role", "admin", "--server-dir", str(dir_a.path), host="host-a")
    dir_b = _second_host(dir_a, tmp_path)
    a = servers.Server(dir_a, tmp_path / "a.log", environ={**FAST, "CRASHVEIL_HOST_ID": "host-a"})
    b = servers.Server(dir_b, tmp_path / "b.log", environ={**FAST, "CRASHVEIL_HOST_ID": "host-b"})
    return a, b


def _post(server: Any, sealer: Any) -> tuple[int, str | None]:
    """One report to ``server``, over the TLS context made before any rotation (it reads the keys)."""
    if "_context" not in server.__dict__:
        server.__dict__["_context"] = servers.transport_for(server).ssl_context()
    context = server.__dict__["_context"]
    answer = servers.post_sealed(context, server.port, sealer.seal(sealer.report()))
    return answer.status, answer.error


def _readyz(server: Any) -> tuple[int, list[str]]:
    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    with httpx.Client(verify=context, timeout=20) as client:
        answer = client.get(f"https://127.0.0.1:{server.web_port}/readyz")
    return answer.status_code, [check["name"] for check in answer.json().get("failed", [])]


def _copy_kek_set(source: Any, target: Any) -> None:
    """What the operator does: copy A's KEK file over B's (a new file renamed into place)."""
    tmp = target.path / "keys" / ".kek.json.new"
    shutil.copy2(source.path / "keys" / "kek.json", tmp)
    tmp.replace(target.path / "keys" / "kek.json")


def _login_across(form_host: Any, post_host: Any) -> int:
    """The log-in form from one host, posted to the other (no sticky sessions)."""
    context = ssl.create_default_context(cafile=str(form_host.dir.ca_pem))
    with httpx.Client(verify=context, timeout=20) as client:
        page = client.get(f"https://127.0.0.1:{form_host.web_port}/dashboard/login")
        match = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert match, page.status_code
        answer = client.post(f"https://127.0.0.1:{post_host.web_port}/dashboard/login",
                             data={"nonce": match.group(1), "name": "alice", "password": PASSWORD},
                             headers={"Origin": f"https://127.0.0.1:{post_host.web_port}"})
    return answer.status_code


def test_host_down_during_a_kek_rotation_answers_503_then_picks_the_set_up(tmp_path: Path, pg_url: str) -> None:
    """Host B is down while A rotates the KEK; started with its old KEK file, B answers 503
    (not 400: the SDK would delete the report) and fails readiness on ``keys``; once the
    operator copies the KEK file over, B serves again without a restart. Audit verify passes
    on both hosts, and a log-in form from A posts to B."""
    a, b = _hosts(tmp_path, pg_url)
    sealer = servers.Sealer(a.dir)
    a.start()
    b.start()
    try:
        before = (_post(a, sealer), _post(b, sealer))
        login = (_login_across(a, b), _login_across(b, a))
        b.stop()
        _cli("keys", "rotate", "--no-project-keys", "--server-dir", str(a.dir.path), host="host-a")
        b.start()
        during = (_post(a, sealer), _post(b, sealer), _readyz(b))
        _copy_kek_set(a.dir, b.dir)
        assert servers.wait_for(lambda: _readyz(b)[0] == 200, 30), _readyz(b)
        after = (_post(b, sealer), _readyz(a))
    finally:
        for server in (a, b):
            if server.alive():
                server.stop()
    assert ((201, None), (201, None)) == before
    assert (303, 303) == login
    assert ((201, None), (503, "key_unavailable"), (503, ["audit", "keys"])) == during
    assert ((201, None), (200, [])) == after
    for server_dir, host in ((a.dir, "host-a"), (b.dir, "host-b")):
        verified = _cli("audit", "verify", "--server-dir", str(server_dir.path), host=host, check=False)
        assert 0 == verified.returncode, (host, verified.stdout, verified.stderr)


def test_rotation_waits_for_a_live_host_without_the_new_kek(tmp_path: Path, pg_url: str) -> None:
    """Both hosts up: ``keys rotate`` on A names B (whose KEK file lacks the new KEK) and
    rewraps nothing, so B keeps storing reports; after the KEK file reaches B, the same
    command finishes, and both hosts keep serving."""
    a, b = _hosts(tmp_path, pg_url)
    sealer = servers.Sealer(a.dir)
    a.start()
    b.start()
    try:
        refused = _cli("keys", "rotate", "--no-project-keys", "--server-dir", str(a.dir.path), host="host-a",
                       check=False)
        during = (_post(b, sealer), _readyz(b))
        _copy_kek_set(a.dir, b.dir)
        finished = _cli("keys", "rotate", "--no-project-keys", "--server-dir", str(a.dir.path), host="host-a")
        after = (_post(a, sealer), _post(b, sealer), _readyz(a), _readyz(b))
    finally:
        for server in (a, b):
            if server.alive():
                server.stop()
    assert 1 == refused.returncode and "host-b" in refused.stderr and "rewrap" not in refused.stdout
    assert ((201, None), (200, [])) == during
    assert "finished the interrupted rotation" in finished.stdout
    assert ((201, None), (201, None), (200, []), (200, [])) == after
