"""Decompression bombs on the Sentry endpoint, against the real server (``run_server``, both listeners).

With only a public DSN key, an attacker posts ~100 KiB of gzip that expands to ~100 MiB of
blank lines after a valid envelope header. The answer must be a 413 within a fraction of a
second, and both listeners (they share one event loop) must keep answering ``/healthz``
quickly while the bomb is being refused.
"""

from __future__ import annotations

import http.client
import importlib.util
import ssl
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[1]


def _servers() -> Any:
    name = "crashveil_tests_servers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / "_servers.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def gzip_bomb(expanded: int, head: bytes = b'{"event_id":"' + b"a" * 32 + b'"}\n') -> bytes:
    """A gzip stream of ``head`` then ``expanded`` bytes of newlines, built in 1 MiB steps."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(head)]
    block = b"\n" * (1 << 20)
    for _ in range(expanded >> 20):
        parts.append(packer.compress(block))
    parts.append(packer.flush())
    return b"".join(parts)


class Prober:
    """GETs ``/healthz`` on one port over a kept-alive connection, recording each latency."""

    def __init__(self, context: ssl.SSLContext, port: int) -> None:
        self.context, self.port = context, port
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    connection.request("GET", "/healthz")
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    connection.close()
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                self._stop.wait(0.005)
        finally:
            connection.close()

    def p99(self) -> float:
        return self.p99_of(self.latencies)

    @staticmethod
    def p99_of(latencies: list[float]) -> float:
        return statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) > 1 else float("inf")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, int, ssl.SSLContext]]:
    """The real server over a ``crashveil server init`` directory, with a DSN key of ``demo``."""
    from crashveil.server.sentry.keys import SentryKeys

    servers = _servers()
    root = tmp_path_factory.mktemp("bomb")
    server_dir = servers.init_server_dir(root / "dir")
    storage = server_dir.storage()
    try:
        project, key = SentryKeys(storage.engine).create_key("demo")
    finally:
        storage.close()
    server = servers.Server(server_dir, root / "server.log").start()
    try:
        context = servers.transport_for(server).ssl_context()
        assert servers.wait_for(lambda: servers.get_status(context, server.web_port, "/healthz") == 200, 30)
        yield server, key, project.numeric_id, context
    finally:
        server.kill()


def _post(context: ssl.SSLContext, port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("route", ["envelope", "store"])
def test_gzip_bomb_is_refused_fast_and_both_listeners_stay_responsive(
        running: tuple[Any, str, int, ssl.SSLContext], route: str) -> None:
    """~100 KiB of gzip (100 MiB of blank lines once expanded): a 4xx in well under a second,
    and /healthz on the ingest and the web listener keeps answering meanwhile.

    What is held is the work the server does for a bomb, read as its process's CPU time from
    /proc (under 0.25 s for the cheapest of three bombs; before the fix 7 to 17 s), and the
    wall time and /healthz latency relative to the machine's own pace: on a shared machine
    with a load of 19, wall clocks alone failed the fixed version now and then."""
    server, key, numeric_id, context = running
    bomb = gzip_bomb(100 << 20)
    assert len(bomb) < 200 * 1024
    headers = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}", "Content-Encoding": "gzip",
               "Content-Type": "application/x-sentry-envelope"}
    answers = []
    with Prober(context, server.port) as ingest, Prober(context, server.web_port) as web:
        assert _wait_for_samples(ingest, web, count=20)
        calm = max(ingest.p99(), web.p99())  # the machine's own pace, before any bomb
        before = (len(ingest.latencies), len(web.latencies))
        for _ in range(3):
            cpu, started = _cpu_s(server.process.pid), time.perf_counter()
            status, body = _post(context, server.web_port, f"/api/{numeric_id}/{route}/", bomb, headers)
            answers.append((time.perf_counter() - started, _cpu_s(server.process.pid) - cpu, status, body))
            assert _wait_for_samples(ingest, web, after=(len(ingest.latencies), len(web.latencies)))
    during = max(Prober.p99_of(ingest.latencies[before[0]:]), Prober.p99_of(web.latencies[before[1]:]))
    elapsed, cpu = min(answer[0] for answer in answers), min(answer[1] for answer in answers)
    print(f"\nbomb on {route}: {[a[2] for a in answers]} in {elapsed * 1000:.1f} ms, server CPU {cpu * 1000:.0f} ms "
          f"(cheapest of 3); /healthz p99 {during * 1000:.1f} ms during, {calm * 1000:.1f} ms before")
    assert all(400 <= status < 500 for _, _, status, _ in answers), answers
    assert cpu < 0.25 and elapsed < max(0.5, 20 * calm), (cpu, elapsed, calm)
    assert (0, 0) == (ingest.failures, web.failures)
    assert during < max(0.2, 4 * calm), (during, calm)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used, from /proc/PID/stat."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_samples(*probers: Prober, after: tuple[int, ...] | None = None, count: int = 5) -> bool:
    """Until every prober has ``count`` more latencies than ``after`` (or 10 s passed)."""
    base = after or (0,) * len(probers)
    return _servers().wait_for(
        lambda: all(len(p.latencies) >= b + count for p, b in zip(probers, base, strict=True)), 10, step_s=0.01)
