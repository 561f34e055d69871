"""Sealed queue latency: writing one sealed 4 KiB item to disk, as the crash hook does.

Prints a table of medians (and p90) over repeated runs, for an empty queue and for a full
queue at the default cap (30 items: each write then also evicts the oldest item and bumps
the persisted drop counter), plus the cost of listing and reading a full queue.

    python bench/sdk_queue.py [--repeats 300] [--dir PATH]

The budget it checks against is DESIGN section 6: capture -> sealed on disk <= 2 ms (this is
the disk part of it; sealing is measured in tests/crypto).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from crashveil.sdk.delivery.queue import QueueMeta, SealedQueue


def measure(fn, repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.9)] * 1e3


def run(base: Path, repeats: int) -> list[tuple[str, float, float]]:
    sealed = os.urandom(4096)
    meta = QueueMeta("report", "ValueError", "crash", created=time.time())
    rows = []
    empty_dir = base / "empty"
    queue = SealedQueue(empty_dir, max_reports=10**6, max_bytes=10**12, max_age_days=30)

    def put_then_remove() -> None:
        queue.remove(queue.put(sealed, meta))

    rows.append(("put 4 KiB, queue empty (incl. remove)", *measure(put_then_remove, repeats)))
    probe = base / "probe"

    def bare_write_fsync() -> None:
        # The floor: one 4 KiB write + fsync + unlink, no framing, rename or directory fsync.
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, sealed)
        os.fsync(fd)
        os.close(fd)
        os.unlink(probe)

    rows.append(("baseline: bare 4 KiB write + fsync", *measure(bare_write_fsync, repeats)))
    full = SealedQueue(base / "full", max_reports=30, max_bytes=2_000_000, max_age_days=30)
    for _ in range(30):
        full.put(sealed, meta)
    rows.append(("put 4 KiB, queue full (evict oldest + counter)", *measure(lambda: full.put(sealed, meta), repeats)))
    rows.append(("items() of 30 (verify every file)", *measure(full.items, max(repeats // 5, 10))))
    item = full.items()[0]
    rows.append(("read() one item", *measure(lambda: full.read(item), repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the queues (default: a temp dir)")
    args = parser.parse_args()
    targets = [("tmp (" + tempfile.gettempdir() + ")", args.dir)]
    if args.dir is None and Path("/dev/shm").is_dir():
        targets.append(("tmpfs (/dev/shm)", Path("/dev/shm")))
    print(f"{'where':<24} {'operation':<50} {'median ms':>10} {'p90 ms':>8}")
    for label, parent in targets:
        base = Path(tempfile.mkdtemp(prefix="crashveil-bench-", dir=parent))
        try:
            for name, median, p90 in run(base, args.repeats):
                print(f"{label:<24} {name:<50} {median:>10.3f} {p90:>8.3f}")
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
