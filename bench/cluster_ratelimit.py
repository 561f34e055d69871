"""What a rate limit shared by every host would cost, against the per-host share we use.

Three ways to take one token for a project, per request:

- ``host share``: the in-memory ``KeyedLimiter`` (each host applies 1 / live hosts of the
  limit; the hosts are counted by a heartbeat every 10 s: two statements per process per 10 s);
- ``pg bucket``: a token bucket row per project in PostgreSQL, one ``UPDATE ... RETURNING``
  per request (the shared version), one client at a time; durable (a WAL flush per request)
  and with ``synchronous_commit = off`` (a crash may forget a few tokens: fine for a limit);
- ``pg bucket, N clients``: the latter with N threads on the same project's row at once (the
  fronts of several hosts under load: they queue on the row lock).

Prints medians over interleaved rounds: CPU microseconds per request of this process and of
PostgreSQL (its processes, from /proc), wall microseconds per request, requests per second.
Figures from a busy machine are CPU first; wall time there says little.

    PYTHONPATH=src python bench/cluster_ratelimit.py --requests 2000 --rounds 5 --clients 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _postgres import postgres_cpu_seconds, temporary_postgresql
from _table import print_table

_BUCKET = """UPDATE rate_buckets
SET tokens = GREATEST(-1.0, LEAST(:burst, tokens + EXTRACT(EPOCH FROM clock_timestamp() - at) * :rate) - 1.0),
    at = clock_timestamp()
WHERE key = :key RETURNING tokens"""


def _measure(run: Callable[[], int], postmaster: int | None) -> tuple[float, float, float, int]:
    """(process CPU s, PostgreSQL CPU s, wall s, requests) of one round."""
    cpu0, pg0, wall0 = time.process_time(), postgres_cpu_seconds(postmaster), time.perf_counter()
    done = run()
    return (time.process_time() - cpu0, postgres_cpu_seconds(postmaster) - pg0, time.perf_counter() - wall0, done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="tokens taken per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8, help="threads on one row in the contended variant")
    args = parser.parse_args()

    import sqlalchemy as sa

    from crashveil.server.http.ratelimit import KeyedLimiter

    with temporary_postgresql() as (url, postmaster):
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                  pool_size=args.clients + 1)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE rate_buckets (key text PRIMARY KEY, tokens double precision, "
                                 "at timestamptz)")
            conn.exec_driver_sql("INSERT INTO rate_buckets VALUES ('demo', 2000, clock_timestamp())")
        statement = sa.text(_BUCKET)
        params = {"burst": 1e9, "rate": 1e9, "key": "demo"}  # never refuses: we measure the cost, not the limit

        def pg_take(count: int, durable: bool = True) -> int:
            with engine.connect() as conn:
                if not durable:  # a bucket may forget a few tokens in a crash: no WAL flush per request
                    conn.exec_driver_sql("SET synchronous_commit = off")
                    conn.commit()
                for _ in range(count):
                    conn.execute(statement, params).scalar_one()
                    conn.commit()
            return count

        def pg_contended() -> int:
            share = args.requests // args.clients
            threads = [threading.Thread(target=pg_take, args=(share, False)) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return share * args.clients

        limiter = KeyedLimiter(1e9, 10**9)

        def memory() -> int:
            for _ in range(args.requests):
                limiter.take("demo")
            return args.requests

        variants: dict[str, Callable[[], int]] = {
            "host share (memory)": memory,
            "pg bucket, 1 client": lambda: pg_take(args.requests),
            "pg bucket, 1 client, async commit": lambda: pg_take(args.requests, durable=False),
            f"pg bucket, {args.clients} clients, async commit": pg_contended,
        }
        results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in variants}
        for _ in range(args.rounds):  # interleaved: a busy machine weighs on every variant alike
            for name, run in variants.items():
                results[name].append(_measure(run, postmaster))
        engine.dispose()

    rows = []
    base = statistics.median(cpu / n for cpu, _, _, n in results["host share (memory)"]) * 1e6
    for name, measured in results.items():
        app = statistics.median(cpu / n for cpu, _, _, n in measured) * 1e6
        pg = statistics.median(pgc / n for _, pgc, _, n in measured) * 1e6
        wall = statistics.median(w / n for _, _, w, n in measured) * 1e6
        rows.append([name, f"{app:.1f}", f"{pg:.1f}", f"{(app + pg) / base:.0f}x", f"{wall:.1f}",
                     f"{1e6 / wall:.0f}"])
    print_table(["variant", "app CPU us/req", "pg CPU us/req", "CPU vs memory", "wall us/req", "req/s"], rows)


if __name__ == "__main__":
    main()
