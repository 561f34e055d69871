"""KEK rotation over many day keys: process CPU per rotation, in committed batches of
``--batch-size`` (what ``crashveil keys rotate`` does) and in one transaction (batch = all
keys, the rotation before batches). Rounds alternate the two so a busy machine weighs on
both alike. Prints medians and the ratio.

    PYTHONPATH=src python bench/kek_rotate.py --keys 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=2000, help="day keys to rewrap")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    from crashveil.server.db.engine import create_engine, migrate, write_tx
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        settings = Settings(server_dir=root, database_url=url, sealing_suite="x25519")
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        FileKeyProvider.create(settings.kek_path, now=NOW)
        storage = Storage.open(settings, clock=lambda: NOW)
        try:
            storage.create_project("demo", now=NOW)
            with write_tx(storage.engine) as conn:
                for offset in range(args.keys):
                    storage.keys.data_key_for_write(conn, "demo", (date(2020, 1, 1) + timedelta(days=offset))
                                                    .isoformat(), now=NOW)
            times: dict[str, list[float]] = {"batches": [], "one transaction": []}
            for _ in range(args.rounds):
                for name, size in (("batches", args.batch_size), ("one transaction", args.keys + 10)):
                    started = time.process_time()
                    result = storage.rotate_kek(now=NOW, batch_size=size)
                    times[name].append(time.process_time() - started)
                    assert result.rewrapped_data_keys == args.keys and not result.interrupted
        finally:
            storage.close()
    base = statistics.median(times["one transaction"])
    rows = [(name, args.keys, f"{statistics.median(values) * 1000:.0f}", f"{statistics.median(values) / base:.2f}")
            for name, values in times.items()]
    print_table(["rewrap", "day keys", "CPU ms (median)", "ratio"], rows)


if __name__ == "__main__":
    main()
