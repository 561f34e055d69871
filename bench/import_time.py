"""Import (and init) cost of crashveil in a fresh interpreter, beside sentry-sdk.

Each case runs in a new process REPEATS times; the statement alone is timed inside the
process with perf_counter (wall) and process_time (CPU of this process), so interpreter
start-up is not counted. Prints medians and the ratio to `import crashveil`. Target
(DESIGN.md, issue 3): import + init() <= 20 ms, with consent off and with consent granted
(by grant() in the same run, or in an earlier run: every later start of an app whose user
opted in), without and with a DSN.

Bytecode: an installed package has its ``.pyc`` files (pip compiles them), and so does
sentry-sdk here. By default the timed processes may write and reuse bytecode in a private
cache (``PYTHONPYCACHEPREFIX`` in a temporary directory, one untimed warm-up run per case),
even when the environment sets ``PYTHONDONTWRITEBYTECODE``. ``--no-bytecode-cache`` keeps the
environment as it is: with ``PYTHONDONTWRITEBYTECODE=1`` and a source checkout, every run
then compiles crashveil's modules from source (sentry-sdk's stay cached).

    python bench/import_time.py [--repeats 15] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table

_INIT = "import crashveil\ncrashveil.init(app_name='bench', data_dir=DATA, release='1.0')"
_GRANT_BEFORE = ("import crashveil\ncrashveil.init(app_name='bench', data_dir=DATA, release='1.0')\n"
                 "crashveil.grant('crash')\ncrashveil.shutdown()")
#: A well-formed connection string (keys of the right form, nothing listens on port 9): what a
#: real app passes. init() then also parses and checks the pinned keys, and starts the thread
#: that refreshes the remote config (which runs after the timed statement).
_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
_DSN = f"crashveil://127.0.0.1:9/bench?key=x25519:{_KEY}&sign=ed25519:{_KEY}&ca=YWJj"
_INIT_DSN = f"import crashveil\ncrashveil.init(app_name='bench', data_dir=DATA, release='1.0', dsn={_DSN!r})"

#: name -> (untimed set-up run in an earlier process on the same data dir, timed statement)
CASES: dict[str, tuple[str | None, str]] = {
    "import crashveil": (None, "import crashveil"),
    "import crashveil + init() (consent off)": (None, _INIT),
    "import crashveil + init() (consent granted)": (None, _INIT + "\ncrashveil.grant('crash')"),
    "import crashveil + init() (granted in an earlier run)": (_GRANT_BEFORE, _INIT),
    "import crashveil + init(dsn) (granted in an earlier run)": (
        _INIT_DSN + "\ncrashveil.grant('crash')\ncrashveil.shutdown()", _INIT_DSN),
    "import sentry_sdk": (None, "import sentry_sdk"),
    "import sentry_sdk + init()": (
        None, "import sentry_sdk\nsentry_sdk.init(dsn='https://public@127.0.0.1:9/1', release='1.0')"),
}

RUNNER = """
import time, sys
DATA = sys.argv[1]
t0, c0 = time.perf_counter(), time.process_time()
exec(compile(sys.argv[2], "<bench>", "exec"))
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def run(statement: str, data: str, env: dict[str, str]) -> tuple[float, float] | None:
    result = subprocess.run([sys.executable, "-c", RUNNER, data, statement], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return None
    wall, cpu = result.stdout.strip().splitlines()[-1].split()
    return float(wall) * 1000, float(cpu) * 1000


def measure(setup: str | None, statement: str, repeats: int, env: dict[str, str],
            warm_up: bool) -> tuple[list[float], list[float]] | None:
    walls, cpus = [], []
    for index in range(repeats + (1 if warm_up else 0)):
        with tempfile.TemporaryDirectory() as data:
            if setup is not None and run(setup, data, env) is None:
                return None
            timing = run(statement, data, env)
        if timing is None:
            return None
        if warm_up and index == 0:
            continue  # compiled and cached the bytecode
        walls.append(timing[0])
        cpus.append(timing[1])
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep the environment's bytecode settings (PYTHONDONTWRITEBYTECODE ...)")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as pycache:
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
        results = {name: measure(setup, code, args.repeats, env, warm_up=not args.no_bytecode_cache)
                   for name, (setup, code) in CASES.items()}
    base_times = results["import crashveil"]
    base = median(base_times[0]) if base_times else float("nan")
    rows = []
    for name, times in results.items():
        if times is None:
            rows.append([name, "n/a", "n/a", "n/a", "n/a"])
            continue
        walls, cpus = times
        value = median(walls)
        rows.append([name, f"{value:.1f}", f"{min(walls):.1f}", f"{median(cpus):.1f}", f"{value / base:.2f}x"])
    mode = ("environment's bytecode settings" if args.no_bytecode_cache
            else "bytecode cached (as installed)")
    print(f"Python {sys.version.split()[0]}, {args.repeats} fresh processes per case, {mode}")
    print_table(["case", "median ms", "min ms", "median CPU ms", "vs import crashveil"], rows)


if __name__ == "__main__":
    main()
