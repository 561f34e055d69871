"""What the ``concurrent.futures`` integration costs every future of an app that uses crashveil.

The integration wraps ``Future.set_exception``, ``result`` and ``exception`` and gives the
class a finaliser (``crashveil.sdk.integrations.processes``). Measured in one run, with the
integration off and on (alternating rounds, so machine noise hits both alike):

- a future made, resolved and read (``Future()``, ``set_result``, ``result``, dropped): the
  path of every successful task;
- a failed future read with ``exception()`` and dropped: a handled failure;
- ``ThreadPoolExecutor.submit`` + ``result`` of a trivial function: the whole executor path.

Prints medians (ns per operation) and the on/off ratio.

    python bench/futures_integration.py [--rounds 15] [--n 20000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table


def resolved(n: int) -> None:
    for _ in range(n):
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        future.set_result(1)
        future.result()


def failed_and_read(n: int) -> None:
    error = ValueError("x")
    for _ in range(n):
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        future.set_exception(error)
        future.exception()


def executor_round_trip(n: int, executor: concurrent.futures.Executor) -> None:
    for _ in range(n):
        executor.submit(int).result()


def timed(work: Callable[[], None], n: int) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    work()
    return (time.perf_counter_ns() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    from crashveil.sdk.integrations.processes import FuturesIntegration

    integration = FuturesIntegration()
    n = args.n
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        cases: dict[str, Callable[[], None]] = {
            "future resolved and read": lambda: resolved(n),
            "future failed, exception() read": lambda: failed_and_read(n),
            "executor submit + result": lambda: executor_round_trip(n // 4, executor),
        }
        divisors = {"executor submit + result": n // 4}
        samples: dict[tuple[str, bool], list[float]] = {(name, on): [] for name in cases for on in (False, True)}
        for _ in range(args.rounds):
            for on in (False, True):
                if on:
                    integration.setup_once()
                try:
                    for name, work in cases.items():
                        samples[(name, on)].append(timed(work, divisors.get(name, n)))
                finally:
                    if on:
                        integration.teardown()
    rows = []
    for name in cases:
        off, on = median(samples[(name, False)]), median(samples[(name, True)])
        rows.append((name, f"{off:.0f}", f"{on:.0f}", f"{on / off:.2f}x"))
    print_table(("per operation (median ns)", "off", "on", "on/off"), rows)


if __name__ == "__main__":
    main()
