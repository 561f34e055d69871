"""Three hosts of one server over one PostgreSQL, as docs/scale-out.md sets them up.

Host ``a`` is made by ``server init``, hosts ``b`` and ``c`` by ``server add-host`` from it;
each listens on its own loopback address (127.0.0.1, .2, .3). Senders spread the load over
the three, and when a host does not answer or answers 5xx they go on to the next one, as a
load balancer and the SDK's retry do. Mid-load the KEK is rotated on ``a`` (the KEK file is
shared by the three: a file the operator distributes) and ``c`` is killed with SIGKILL.

What must hold: every acknowledged report is stored once, no valid report gets a 4xx,
``audit verify`` passes on every host, and a log-in form served by one host can be posted to
another.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

servers = sys.modules["crashveil_tests_servers"]  # tests/_servers.py, loaded by conftest.py

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADDRESSES = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}
PUBLIC_URL = "https://crash.example.test"
PASSWORD = "a long enough password for the three hosts"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=180,
                          env={**base, **(env or {})})


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stderr[-3000:]}"
    return done.stdout


@dataclass
class Spread:
    """Threads that deliver sealed reports over several hosts, going on to the next host on
    no answer or a 5xx (never on a 4xx, which must not happen to a valid report)."""

    hosts: list[Any]
    sealed: list[bytes]
    threads: int
    deadline_s: float
    acked: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (receipt, host)
    answers: Counter[str] = field(default_factory=Counter)
    refused: list[tuple[int, str, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.contexts = {h.host: servers.transport_for(h).ssl_context() for h in self.hosts}
        self.deadline = time.monotonic() + self.deadline_s
        self.workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in self.workers:
            worker.start()

    def _run(self, first: int) -> None:
        for index in range(first, len(self.sealed), self.threads):
            turn = index
            while time.monotonic() < self.deadline:
                host = self.hosts[turn % len(self.hosts)]
                answer = servers.post_sealed(self.contexts[host.host], host.port, self.sealed[index], timeout_s=5,
                                             host=host.host)
                with self.lock:
                    self.answers[str(answer.status)] += 1
                if 200 <= answer.status < 300:
                    with self.lock:
                        self.acked[index] = (answer.receipt, host.host)
                    break
                if 400 <= answer.status < 500 and answer.status != 429:
                    with self.lock:
                        self.refused.append((index, host.host, answer.status, answer.error))
                    break
                turn += 1  # the balancer's next host; the SDK would back off, a short pause does
                time.sleep(0.02)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def busy(self) -> bool:
        return any(worker.is_alive() for worker in self.workers)

    def join(self) -> None:
        for worker in self.workers:
            worker.join(timeout=max(1.0, self.deadline - time.monotonic() + 10))


def _nonce(text: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', text)
    assert found, "no log-in form"
    return found.group(1)


def _log_in_across(first: Any, second: Any) -> int:
    """GET the log-in form from ``first``, POST it to ``second`` with the cookie ``first`` set:
    the status of the POST (303 is a log-in, 403 a refused form). Behind a balancer both hosts
    share one name; here their addresses differ, so the cookie is carried over by hand."""
    import ssl

    import httpx

    def client(server: Any) -> httpx.Client:
        trust = ssl.create_default_context(cafile=str(server.dir.ca_pem))
        return httpx.Client(base_url=f"https://{server.host}:{server.web_port}", verify=trust, timeout=30)

    with client(first) as one, client(second) as two:
        nonce = _nonce(one.get("/dashboard/login").text)
        cookie = "; ".join(f"{name}={value}" for name, value in one.cookies.items())
        answer = two.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": PASSWORD},
                          headers={"Origin": f"https://{second.host}:{second.web_port}", "Cookie": cookie},
                          follow_redirects=False)
        return answer.status_code


def test_three_hosts_lose_nothing_under_rotation_and_kill_9(pg_url: str, tmp_path: Path) -> None:
    a_dir = servers.init_server_dir(tmp_path / "a", database_url=pg_url)
    dirs = {"a": a_dir}
    for name in ("b", "c"):
        _ok(_cli("server", "add-host", "--from", str(a_dir.path), "--out", str(tmp_path / name), "--host-name", name,
                 "--name", ADDRESSES[name], "--host", ADDRESSES[name]))
        dirs[name] = servers.ServerDir(tmp_path / name, a_dir.client_cert, a_dir.client_key, pg_url)
    shared_kek = a_dir.path / "keys" / "kek.json"
    common = {"CRASHVEIL_KEK_FILE": str(shared_kek), "CRASHVEIL_KEK_HEARTBEAT_S": "0.5",
              "CRASHVEIL_HEARTBEAT_S": "0.5", "CRASHVEIL_PROJECT_CACHE_S": "0.5", "CRASHVEIL_PUBLIC_URL": PUBLIC_URL}
    hosts = [servers.Server(dirs[name], tmp_path / f"{name}.log", host=ADDRESSES[name],
                            environ={**common, "CRASHVEIL_HOST_ID": name}) for name in ("a", "b", "c")]
    for host in hosts:
        host.start()
    try:
        _run_load(hosts, a_dir, {"CRASHVEIL_DATABASE_URL": pg_url, "CRASHVEIL_KEK_FILE": str(shared_kek)})
    finally:
        for host in hosts:
            host.kill()


def _run_load(hosts: list[Any], a_dir: Any, operator: dict[str, str]) -> None:
    """The load, the rotation and the kill; ``operator``: the settings every host's CLI shares
    with its server (the database and the KEK file)."""
    a, b, c = hosts
    env_a = {**operator, "CRASHVEIL_HOST_ID": "a"}
    sealer = servers.Sealer(a_dir)
    reports = [sealer.report(function=f"f{i % 11}") for i in range(600)]
    spread = Spread(hosts, [sealer.seal(r) for r in reports], threads=6, deadline_s=150.0)

    assert servers.wait_for(lambda: spread.acked_count() >= 150 or not spread.busy(), 60.0)
    rotation = _cli("keys", "rotate", "--kek", "--no-project-keys", "--yes", "--server-dir", str(a_dir.path),
                    env=env_a)
    assert servers.wait_for(lambda: spread.acked_count() >= 350 or not spread.busy(), 60.0)
    c.kill()
    spread.join()

    stored = Counter(row[0] for row in servers.stored_rows(a_dir))
    acked_ids = {reports[i].report_id for i in spread.acked}
    verify = {h.host: _cli("audit", "verify", "--server-dir", str(h.dir.path), env=operator) for h in hosts}
    _ok(_cli("user", "add", "dev", "--project", "demo", "--role", "developer", "--server-dir", str(a_dir.path),
             env={**operator, "CRASHVEIL_NEW_PASSWORD": PASSWORD}))
    login = {"a→b": _log_in_across(a, b), "b→a": _log_in_across(b, a)}
    answered_by = Counter(host for _, host in spread.acked.values())

    assert rotation.returncode == 0, rotation.stderr[-3000:]
    assert (len(reports), [], [], [], servers.consistency_problems(a_dir)) == (
        len(spread.acked), spread.refused, sorted(acked_ids - set(stored)),
        sorted(rid for rid, n in stored.items() if n > 1), [])
    assert {h.host: (0, "") for h in hosts} == {host: (done.returncode, done.stderr[-500:] if done.returncode else "")
                                                 for host, done in verify.items()}
    assert {"a→b": 303, "b→a": 303} == login
    assert all(answered_by[h.host] > 0 for h in hosts), answered_by
