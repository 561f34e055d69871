#!/usr/bin/env python3
"""Load and mass-failure generator against the real server over loopback with mutual TLS.

Usage::

    python scripts/load.py --rate 200 --duration 30 --senders 32 --json test-output/load.json
    python scripts/load.py --mass-failure 10000 --json test-output/mass.json
    python scripts/load.py --rate 100 --duration 10 --database-url postgresql://USER@HOST:PORT/DB

Both modes start their own server (``crashveil server init`` in a temporary directory, then
``run_server`` on uvicorn, client certificates required) unless ``--database-url`` names a
migrated, empty PostgreSQL database to use instead of the directory's SQLite file.

``--rate`` mode (open loop): request *i* is due at ``t0 + i / rate``; ``--senders`` threads
take the next due request, each over a fresh TLS connection with the SDK's own TLS context
(``HttpsTransport.ssl_context``) and a report sealed with the SDK's ``seal_report`` (sealed
before the clock starts, so the figures are the server's). Reports come from distinct installs
spread over 50 groups. Printed and written as JSON: target and achieved rate, accepted,
rejected by reason, p50/p99 latency, server RSS (current and peak), then the check that every
acknowledged receipt is in storage (``lost`` must be 0) and the storage is consistent.

``--mass-failure N`` mode: N installs send the *same* crash at once while a probe sends other
groups' crashes at 5/s. Each install obeys ``Retry-After`` as the SDK parses it
(``crashveil.sdk.transport.parse_retry_after``) and retries until stored or the time bound.
Reports whether counts-only mode and the rate limits engaged, the probe's latency and
outcomes, and whether every install was delivered exactly once.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _servers() -> Any:
    sys.path.insert(0, str(ROOT / "src"))
    import importlib.util

    name = "crashveil_tests_servers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "_servers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def run_load(server: Any, *, rate: float, duration_s: float, senders: int) -> dict[str, Any]:
    """Hold ``rate`` requests/s for ``duration_s`` against a running ``server``; the figures."""
    servers = _servers()
    sealer = servers.Sealer(server.dir)
    total = max(1, int(rate * duration_s))
    sealed = [sealer.seal(sealer.report(function=f"f{i % 50}")) for i in range(total)]
    context = servers.transport_for(server).ssl_context()
    due = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    reasons: Counter[str] = Counter()
    acked: list[str] = []
    late: list[float] = []
    for _ in range(3):  # warm up (lazy imports, first TLS handshakes); not counted, not checked
        servers.post_sealed(context, server.port, sealer.seal(sealer.report(function="warmup")))
    t0 = time.monotonic() + 0.2

    def sender() -> None:
        while True:
            with lock:
                i = next(due)
            if i >= total:
                return
            at = t0 + i / rate
            wait = at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                late.append(-wait)
            started = time.monotonic()
            answer = servers.post_sealed(context, server.port, sealed[i])
            elapsed = time.monotonic() - started
            with lock:
                latencies.append(elapsed)
                if 200 <= answer.status < 300 and answer.receipt:
                    acked.append(answer.receipt)
                else:
                    reasons[f"{answer.status} {answer.error}"] += 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, server.memory_kb()[1])
        time.sleep(0.1)
    ended = time.monotonic()
    rss, hwm = server.memory_kb()
    stored = {receipt for _, receipt, _ in servers.stored_rows(server.dir)}
    lost = sorted(set(acked) - stored)
    return {
        "mode": "load", "database": "postgresql" if server.dir.database_url else "sqlite",
        "target_rate": rate, "duration_s": duration_s, "senders": senders, "sent": len(latencies),
        "achieved_rate": round(len(latencies) / max(ended - t0, 1e-9), 1),
        "accepted": len(acked), "stored": len(set(acked) & stored), "lost": len(lost),
        "rejected": dict(sorted(reasons.items())),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2), "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "behind_schedule_p99_ms": round(percentile(late, 0.99) * 1000, 2) if late else 0.0,
        "server_rss_kb": rss, "server_peak_rss_kb": max(peak, hwm),
        "consistency_problems": servers.consistency_problems(server.dir),
    }


def run_mass_failure(server: Any, *, installs: int, senders: int = 64, probe_rate: float = 5.0,
                     time_bound_s: float = 300.0) -> dict[str, Any]:
    """``installs`` installs send one same crash at once; a probe sends other groups meanwhile."""
    from crashveil.sdk.transport import parse_retry_after

    servers = _servers()
    sealer = servers.Sealer(server.dir)
    flood = [sealer.seal(sealer.report(function="same_bug")) for _ in range(installs)]
    context = servers.transport_for(server).ssl_context()
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    delivered: list[str] = []
    obeyed: list[bool] = []
    waits: list[float] = []
    pending = list(range(installs))
    deadline = time.monotonic() + time_bound_s
    stop_probe = threading.Event()
    probe_latency: list[float] = []
    probe_outcomes: Counter[str] = Counter()
    probe_acked: list[str] = []

    def install_worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                if not pending:
                    return
                i = pending.pop()
            not_before = 0.0
            while time.monotonic() < deadline:
                now = time.monotonic()
                if now < not_before:
                    time.sleep(not_before - now)
                obeyed.append(time.monotonic() >= not_before)
                answer = servers.post_sealed(context, server.port, flood[i])
                with lock:
                    outcomes[str(answer.status)] += 1
                if 200 <= answer.status < 300:
                    with lock:
                        delivered.append(answer.receipt)
                    break
                if 400 <= answer.status < 500 and answer.status not in (408, 429):
                    break  # dropped, as the SDK drops it
                wait = parse_retry_after(answer.retry_after, answer.status, now=time.time())
                wait = wait if wait is not None else 1.0
                waits.append(wait)
                not_before = time.monotonic() + wait

    def probe() -> None:
        i = 0
        while not stop_probe.is_set() and time.monotonic() < deadline:
            body = sealer.seal(sealer.report(crash_type="ValueError", function=f"other{i % 20}"))
            started = time.monotonic()
            answer = servers.post_sealed(context, server.port, body)
            probe_latency.append(time.monotonic() - started)
            probe_outcomes[str(answer.status)] += 1
            if 200 <= answer.status < 300:
                probe_acked.append(answer.receipt)
            i += 1
            stop_probe.wait(1.0 / probe_rate)

    started = time.monotonic()
    probe_thread = threading.Thread(target=probe, daemon=True)
    probe_thread.start()
    workers = [threading.Thread(target=install_worker, daemon=True) for _ in range(senders)]
    for worker in workers:
        worker.start()
    peak = 0
    while any(w.is_alive() for w in workers):
        peak = max(peak, server.memory_kb()[1])
        time.sleep(0.1)
    stop_probe.set()
    probe_thread.join(timeout=15)
    elapsed = time.monotonic() - started
    rows = servers.stored_rows(server.dir)
    stored = {receipt for _, receipt, _ in rows}
    storage = server.dir.storage()
    try:
        counts_only_groups = storage.counts_only_fingerprints("demo")
    finally:
        storage.close()
    return {
        "mode": "mass_failure", "database": "postgresql" if server.dir.database_url else "sqlite",
        "installs": installs, "elapsed_s": round(elapsed, 1), "delivered": len(set(delivered)),
        "duplicates": len(delivered) - len(set(delivered)), "lost": len(set(delivered) - stored),
        "answers": dict(sorted(outcomes.items())),
        "rate_limited": outcomes.get("429", 0), "retry_after_obeyed": all(obeyed),
        "retry_after_max_s": max(waits) if waits else 0.0,
        "counts_only_groups": len(counts_only_groups),
        "stored_without_detail": sum(1 for _, _, has in rows if not has),
        "probe_answers": dict(sorted(probe_outcomes.items())),
        "probe_p50_ms": round(percentile(probe_latency, 0.5) * 1000, 2),
        "probe_p99_ms": round(percentile(probe_latency, 0.99) * 1000, 2),
        "probe_lost": len(set(probe_acked) - stored),
        "server_peak_rss_kb": max(peak, server.memory_kb()[1]),
        "consistency_problems": servers.consistency_problems(server.dir),
    }


def start_server(root: Path, *, database_url: str | None, environ: dict[str, str]) -> Any:
    servers = _servers()
    server_dir = servers.init_server_dir(root / "srv", database_url=database_url)
    return servers.Server(server_dir, root / "server.log", environ=environ).start()


def print_summary(result: dict[str, Any]) -> None:
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="target requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to hold the rate")
    parser.add_argument("--senders", type=int, default=32, help="concurrent senders")
    parser.add_argument("--mass-failure", type=int, default=0, metavar="N", help="N installs, one same crash")
    parser.add_argument("--database-url", default=None, help="a migrated, empty PostgreSQL database")
    parser.add_argument("--default-limits", action="store_true",
                        help="keep the server's rate limits (else the project rate is raised above --rate)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    environ: dict[str, str] = {}
    if not args.mass_failure and not args.default_limits:
        environ = {"CRASHVEIL_PROJECT_RATE_PER_S": str(max(200.0, 2 * args.rate)),
                   "CRASHVEIL_PROJECT_BURST": str(int(max(2000, 2 * args.rate)))}
    with tempfile.TemporaryDirectory(prefix="crashveil-load-") as tmp:
        server = start_server(Path(tmp), database_url=args.database_url, environ=environ)
        try:
            if args.mass_failure:
                result = run_mass_failure(server, installs=args.mass_failure)
            else:
                result = run_load(server, rate=args.rate, duration_s=args.duration, senders=args.senders)
        finally:
            server.stop()
    print_summary(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["lost"] == 0 and not result["consistency_problems"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
