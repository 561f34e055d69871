"""Faults of the server process: kill -9 during ingest, SIGTERM mid-request, key rotation
while ingesting. Real server (uvicorn subprocess, mutual TLS), SQLite and PostgreSQL.

``CRASHVEIL_RELIABILITY_SCALE=20`` (``scripts/reliability_report.py --long``) turns the 10
kills of CI into 200.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

servers = sys.modules["crashveil_tests_servers"]  # tests/_servers.py, loaded by conftest.py
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
_OUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability"

pytestmark = pytest.mark.slow


class Senders:
    """Threads that each deliver their sealed reports, retrying (as the SDK does) until a 2xx."""

    def __init__(self, server: Any, sealed: list[bytes], threads: int, deadline_s: float) -> None:
        self.server = server
        self.sealed = sealed
        self.context = servers.transport_for(server).ssl_context()
        self.acked: dict[int, str] = {}  # index -> receipt of the first 2xx
        self.answers: dict[str, int] = {}
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + deadline_s
        self.threads = [threading.Thread(target=self._run, args=(i, threads), daemon=True) for i in range(threads)]

    def start(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, first: int, step: int) -> None:
        for index in range(first, len(self.sealed), step):
            while time.monotonic() < self.deadline:
                answer = servers.post_sealed(self.context, self.server.port, self.sealed[index], timeout_s=5)
                with self.lock:
                    self.answers[str(answer.status)] = self.answers.get(str(answer.status), 0) + 1
                if 200 <= answer.status < 300:
                    with self.lock:
                        self.acked[index] = answer.receipt
                    break
                time.sleep(0.05)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=max(1.0, self.deadline - time.monotonic() + 10))

    def busy(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)


def _report_ids(sealer: Any, count: int, **kwargs: Any) -> tuple[list[str], list[bytes]]:
    reports = [sealer.report(function=f"f{i % 7}", **kwargs) for i in range(count)]
    return [r.report_id for r in reports], [sealer.seal(r) for r in reports]


def test_kill_9_during_ingest_loses_nothing_acknowledged(make_server: Any, database: str | None) -> None:
    """SIGKILL at random moments of a stream of reports, then restart: every acknowledged report
    is stored once, nothing half-written is visible, the server restarts cleanly each time."""
    kills = 10 * SCALE
    seed = int(os.environ.get("CRASHVEIL_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    server = make_server(database).start()
    sealer = servers.Sealer(server.dir)
    ids, sealed = _report_ids(sealer, 25 * kills)
    senders = Senders(server, sealed, threads=8, deadline_s=60.0 + 12.0 * kills).start()
    restarts = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.05, 0.4))  # the fault: SIGKILL at a random moment of the stream (not a wait)
        server.kill()
        server.start()
        restarts += 1
    senders.join()
    rows = servers.stored_rows(server.dir)
    stored_ids = sorted(r[0] for r in rows if r[0] in set(ids))
    stored_receipts = {r[1] for r in rows}
    acked_lost = sorted(i for i, receipt in senders.acked.items() if receipt not in stored_receipts)
    result = {"database": "postgresql" if database else "sqlite", "kills": kills, "seed": seed,
              "reports": len(ids), "acknowledged": len(senders.acked), "answers": senders.answers,
              "lost": len(acked_lost), "problems": servers.consistency_problems(server.dir)}
    _OUT.mkdir(parents=True, exist_ok=True)
    (_OUT / f"kill9-{result['database']}.json").write_text(json.dumps(result, indent=2) + "\n")
    ready = servers.get_status(senders.context, server.port, "/readyz")
    assert (kills, len(ids), sorted(ids), [], 200) == (
        restarts, len(senders.acked), stored_ids, result["problems"], ready), f"seed {seed}"
    assert [] == acked_lost, f"seed {seed}"


def test_sigterm_mid_request_is_graceful(make_server: Any) -> None:
    """SIGTERM while requests are in flight: each gets a full answer or none, every 2xx is stored,
    the process exits 0 within the bound, and a restart finds a whole database."""
    server = make_server(None).start()
    sealer = servers.Sealer(server.dir)
    ids, sealed = _report_ids(sealer, 120)
    senders = Senders(server, sealed, threads=8, deadline_s=8.0).start()
    # Requests are flowing (some already answered) when SIGTERM comes.
    assert servers.wait_for(lambda: len(senders.acked) >= 16, 8.0), senders.answers
    started = time.monotonic()
    code = server.stop(signal.SIGTERM, timeout_s=15)
    took = time.monotonic() - started
    senders.deadline = 0.0  # the senders stop retrying
    senders.join()
    acked = dict(senders.acked)
    server.start()
    stored = {r[1] for r in servers.stored_rows(server.dir)}
    bad = {status: n for status, n in senders.answers.items() if status not in ("0", "201", "503")}
    assert (0, True, [], {}, []) == (code, took < 12, sorted(set(acked.values()) - stored), bad,
                                     servers.consistency_problems(server.dir)), (
        f"stopped in {took:.1f} s; answers {senders.answers}; log: {server.log_text()[-1500:]}")
    assert True is (len(acked) > 0), senders.answers


def test_key_rotation_while_ingesting_loses_and_garbles_nothing(make_server: Any, database: str | None) -> None:
    """Project keys and the KEK rotate (CLI, another process) while reports sealed to the old
    and the new key stream in: all are stored, all decrypt, none is refused."""
    server = make_server(database, CRASHVEIL_PROJECT_CACHE_S="0.2").start()
    old = servers.Sealer(server.dir)
    old_ids, old_sealed = _report_ids(old, 160)
    senders = Senders(server, old_sealed, threads=4, deadline_s=60.0).start()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRASHVEIL_")}}
    if database:
        env["CRASHVEIL_DATABASE_URL"] = database
    rotations = []
    for flags in (["--project-keys", "--no-kek"], ["--kek", "--no-project-keys"], ["--project-keys", "--kek", "--yes"]):
        # Each rotation comes while reports stream in: some more stored since the last one.
        stored = len(senders.acked)
        servers.wait_for(lambda stored=stored: len(senders.acked) >= stored + 8 or not senders.busy(), 10.0)
        done = subprocess.run([sys.executable, "-m", "crashveil", "keys", "rotate", *flags, "--server-dir",
                               str(server.dir.path)], env=env, capture_output=True, text=True, timeout=120)
        rotations.append(done.returncode)
        assert done.returncode == 0, done.stderr[-2000:]
    new = servers.Sealer(server.dir)
    new_ids, new_sealed = _report_ids(new, 40)
    # The server re-reads projects and keys after project_cache_s: wait until it takes the new key.
    assert servers.wait_for(lambda: servers.post_sealed(senders.context, server.port, new_sealed[0]).status
                            in (200, 201), 10.0), "the server did not pick up the new key"
    late = Senders(server, new_sealed, threads=2, deadline_s=60.0).start()
    senders.join()
    late.join()
    rows = {r[0]: r for r in servers.stored_rows(server.dir)}
    storage = server.dir.storage()
    try:
        undecryptable = [i for i in old_ids + new_ids if storage.report_detail("demo", i) is None]
    finally:
        storage.close()
    refused = {s: n for s, n in {**senders.answers}.items() if s != "201"}
    assert ([0, 0, 0], True, [], [], {}) == (
        rotations, old.key_string != new.key_string, [i for i in old_ids + new_ids if i not in rows],
        undecryptable, refused)
