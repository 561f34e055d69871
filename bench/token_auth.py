"""API token authentication on SQLite: process CPU per call when the last use is written at
most once a minute (``token_scopes.UseCounter``: a read transaction per call) against a write
on every call (the clock moved past the minute before each call, which is what the store did
before). Rounds alternate the two so a busy machine weighs on both alike. Prints medians and
the ratio.

    PYTHONPATH=src python bench/token_auth.py --calls 300 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from argon2 import PasswordHasher

    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = create_engine(f"sqlite:///{root / 'bench.db'}")
        migrate(engine)
        clock = [datetime(2026, 5, 1, 12, 0, tzinfo=UTC)]
        trail = AuditTrail.for_server_dir(engine, root, now=lambda: clock[0])
        access = AccessStore(engine, trail, now=lambda: clock[0],
                             hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        access.add_user("dana", "correct horse battery", actor="cli")
        access.grant("dana", "demo", "developer", actor="cli")
        _, token = access.create_token("dana", "bench", projects=["demo"], roles=["developer"], actor="cli",
                                       scopes=["groups:read"], expires_days=None)
        results: dict[str, list[float]] = {"write at most once a minute": [], "write every call": []}
        for _ in range(args.rounds):
            for name, step in (("write at most once a minute", timedelta(0)),
                               ("write every call", timedelta(seconds=61))):
                started = time.process_time()
                for _ in range(args.calls):
                    clock[0] += step
                    access.authenticate_api(token)
                results[name].append((time.process_time() - started) / args.calls * 1e6)
        engine.dispose()
    base = statistics.median(results["write every call"])
    print_table(["mode", "CPU us/call (median)", "ratio"],
                [(name, f"{statistics.median(v):.0f}", f"{statistics.median(v) / base:.2f}")
                 for name, v in results.items()])


if __name__ == "__main__":
    main()
