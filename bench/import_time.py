"""Import (and init) cost of crashveil in a fresh interpreter, beside sentry-sdk.

Each case runs in a new process REPEATS times; the statement alone is timed inside the
process with perf_counter, so interpreter start-up is not counted. Prints medians and the
ratio to `import crashveil`. Target (DESIGN.md): import + init() <= 20 ms.

    python bench/import_time.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table  # noqa: E402

CASES = {
    "import crashveil": "import crashveil",
    "import crashveil + init() (consent off)": (
        "import crashveil\ncrashveil.init(app_name='bench', data_dir=DATA, release='1.0')"),
    "import crashveil + init() (consent granted)": (
        "import crashveil\ncrashveil.init(app_name='bench', data_dir=DATA, release='1.0')\n"
        "crashveil.grant('crash')"),
    "import sentry_sdk": "import sentry_sdk",
    "import sentry_sdk + init()": (
        "import sentry_sdk\nsentry_sdk.init(dsn='https://public@127.0.0.1:9/1', release='1.0')"),
}

RUNNER = """
import time, sys
DATA = sys.argv[1]
t0 = time.perf_counter()
exec(compile(sys.argv[2], "<bench>", "exec"))
print(time.perf_counter() - t0)
"""


def measure(statement: str, repeats: int) -> list[float] | None:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as data:
            result = subprocess.run([sys.executable, "-c", RUNNER, data, statement],
                                    capture_output=True, text=True)
        if result.returncode != 0:
            return None
        times.append(float(result.stdout.strip().splitlines()[-1]) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    results = {name: measure(code, args.repeats) for name, code in CASES.items()}
    base = median(results["import crashveil"] or [float("nan")])
    rows = []
    for name, times in results.items():
        if times is None:
            rows.append([name, "n/a", "n/a", "n/a"])
            continue
        value = median(times)
        rows.append([name, f"{value:.1f}", f"{min(times):.1f}", f"{value / base:.2f}x"])
    print(f"Python {sys.version.split()[0]}, {args.repeats} fresh processes per case")
    print_table(["case", "median ms", "min ms", "vs import crashveil"], rows)


if __name__ == "__main__":
    main()
