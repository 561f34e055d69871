"""Where the server's CPU per stored report goes: a profile of the ingest path under bench load.

Runs the server of ``bench/ingest.py`` (one uvicorn process, the real app over SQLite or,
with ``--database-url``, PostgreSQL) under a profiler, drives it with pre-sealed unique
reports for SECONDS, and prints the samples grouped into the pieces of the path (HTTP
stack, HPKE open, decode, redaction, grouping, detail encryption, SQL, commit ...), each
with its share and its microseconds per stored report (share x process CPU / stored), so
every 10 % of the CPU per stored report is accounted for; then the top functions of the
largest groups.

Two profilers:

- ``--profiler py-spy`` (default when installed; ``pip install py-spy``, in the ``dev`` extra):
  samples every thread of the server process from outside at ``--rate`` Hz, including the
  group-commit writer thread and time spent in C (SQLite, fsync, HPKE) under the Python
  frame that called it. Samples of waiting threads are left out (``IDLE_LEAVES``: py-spy's
  own idle filter misses them here), and each thread's CPU time from /proc is shared among
  its groups in proportion to its other samples. A sample inside ``fsync`` is wall time, not
  CPU, so the commit's share is an upper bound. ``--nonblocking``: py-spy does not stop the
  process to sample it (stopping it costs every thread a context switch per sample, which
  shows up as CPU of threads that only wait).
- ``--profiler cprofile``: ``cProfile`` (thread CPU time) in the event-loop thread and in every
  thread the server starts, summed; deterministic, with its own overhead (it inflates
  Python-heavy groups against C-heavy ones: read the shares, not the absolute figures).

After the groups: each thread's CPU and context switches per stored report (from /proc).
``--database-url temp-postgresql`` profiles on a throwaway PostgreSQL and prints the
database server's own CPU per stored report beside it (its processes are not profiled).

    python bench/profile_ingest.py [--seconds 8] [--profiler py-spy|cprofile]
        [--database-url URL|temp-postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _http_load import listeners, run_load, tree_cpu_seconds
from _postgres import TEMPORARY, postgres_cpu_seconds, temporary_postgresql
from _table import print_table
from ingest import _request, prepare, seal_many, serve

#: (group, path fragments) in order: a sample (or a cProfile entry) belongs to the first
#: group one of whose fragments its innermost matching frame contains (frames are scanned
#: from the leaf outward, so ``sqlite3 execute`` inside the write path counts as SQL).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("redaction engine (crashveil/redact)", ("crashveil/redact/",)),
    ("detail encryption / JSON (storage/detail.py, encrypt_detail)", ("storage/detail.py", "encrypt_detail (",
                                                                    "detail_aad (")),
    ("HPKE open (keys/crypto.py open_report)", ("keys/crypto.py",)),
    ("DB driver: execute/commit in C (sqlite3/psycopg, fsync)",
     ("do_execute ", "do_executemany ", "do_commit ", "_do_commit ", "sqlite3", "psycopg/", "db/engine.py")),
    ("SQLAlchemy Core (compile, cursor, result rows)", ("sqlalchemy/",)),
    ("decode + validate (ingest/decode.py, wire/, msgspec)", ("ingest/decode.py", "crashveil/wire/", "msgspec")),
    ("server redaction glue (ingest/redaction.py)", ("ingest/redaction.py",)),
    ("grouping / fingerprint", ("ingest/grouping.py", "policy/fingerprint")),
    ("write path Python (storage/, credential_weight, tombstones)",
     ("crashveil/server/storage/", "credential_weight.py", "governance/tombstones.py")),
    ("group commit (ingest/commit.py, writer.py)", ("ingest/commit.py", "ingest/writer.py")),
    ("audit / metrics (prometheus_client, governance/audit)", ("prometheus_client/", "governance/audit.py",
                                                              "http/metrics.py")),
    ("pipeline glue (ingest/pipeline.py, policy)", ("ingest/pipeline.py", "crashveil/policy/", "ingest/tags.py",
                                                    "ratelimit.py")),
    ("logging", ("logging/",)),
    ("HTTP stack (uvicorn, httptools, starlette, app.py, body.py)",
     ("uvicorn/", "httptools", "starlette/", "http/app.py", "http/body.py", "http/connections.py",
      "http/errors.py", "http/peer", "http/routes/")),
    ("event loop / threads (asyncio, uvloop, threading, queue)", ("asyncio/", "uvloop", "threading.py",
                                                                  "queue.py", "concurrent/")),
)
OTHER = "other"
#: py-spy beside this Python (the venv's bin), else on PATH.
PY_SPY = str(Path(sys.executable).parent / "py-spy") if (Path(sys.executable).parent / "py-spy").exists() else (
    shutil.which("py-spy") or "py-spy")


def classify(frames: list[str]) -> str:
    """The group of a stack (frames leaf first, each ``function (file:line)``)."""
    for frame in frames:
        for group, fragments in GROUPS:
            if any(fragment in frame for fragment in fragments):
                return group
    return OTHER


def _serve_profiled(server_dir: Path, port: int, out: Path, url: str | None) -> None:
    """The cProfile child: CPU time (``time.thread_time``) of the event-loop thread from
    SIGUSR1 on (after the warm-up: imports and caches are not the steady state) and of every
    thread the server starts (the group-commit writer starts at the warm-up's first report,
    whose 50 reports are a sliver of the load), summed into one profile at exit."""
    import threading

    profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            original_run(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile(time.thread_time)
    signal.signal(signal.SIGUSR1, lambda signum, frame: main.enable())
    try:
        serve(server_dir, "mlkem768x25519", port, 1, url)
    finally:
        main.disable()
        pstats.Stats(main).dump_stats(str(out) + ".main")
        stats = pstats.Stats(main)
        for profile in profiles:
            if profile.getstats():
                stats.add(profile)
        stats.dump_stats(str(out))


def _cprofile_groups(path: Path) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Exclusive (tottime) seconds per group; a function counts under its own file's group,
    or under its caller's when it is a builtin (``{method 'execute' of 'sqlite3.Cursor'}``)."""
    stats = pstats.Stats(str(path))
    groups: Counter[str] = Counter()
    top: dict[str, Counter[str]] = {}
    for (file, line, name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        frames = [f"{name} ({file}:{line})"]
        if file == "~":  # a builtin: the caller with the most time tells where it belongs
            for (cfile, cline, cname), _ in sorted(callers.items(), key=lambda kv: -kv[1][2])[:1]:
                frames.append(f"{cname} ({cfile}:{cline})")
        group = classify(frames)
        groups[group] += tottime
        top.setdefault(group, Counter())[frames[0]] += tottime
    return groups, top


#: Innermost frames of a thread that waits (py-spy's own idle filter misses them here): a
#: queue or lock wait, an executor thread's wait for work, the loop in C (``run_until_complete``:
#: epoll, or uvloop's C callbacks; left out with the waits, so the event loop's C work is
#: spread over its Python groups in proportion).
IDLE_LEAVES = ("Condition.wait (threading.py", "_worker (concurrent/futures/thread.py", "GroupCommitter._take (",
               "Runner.run (asyncio/runners.py", "Queue.get (queue.py", "Event.wait (threading.py",
               "WorkerThread.run (anyio/")


def _pyspy_groups(path: Path, thread_cpu: dict[int, float]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """CPU seconds per group from py-spy's raw output (``thread (tid): name;root;...;leaf count``).

    Samples of waiting threads (:data:`IDLE_LEAVES`) are dropped; each thread's CPU from
    /proc (``thread_cpu``) is then shared among its groups in proportion to its other samples.
    """
    samples: dict[int, Counter[str]] = {}
    frames_of: dict[int, Counter[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        thread, *frames = stack.split(";")
        frames.reverse()
        if not frames or frames[0].startswith(IDLE_LEAVES):
            continue
        tid = int(thread.split("(", 1)[1].split(")", 1)[0], 0) if "(" in thread else 0
        group = classify(frames)
        samples.setdefault(tid, Counter())[group] += int(count)
        frames_of.setdefault(tid, Counter())[(group, frames[0])] += int(count)
    groups: Counter[str] = Counter()
    top: dict[str, Counter[str]] = {}
    for tid, seconds in thread_cpu.items():
        counted = sum(samples.get(tid, Counter()).values())
        if not counted:
            groups["threads with no sample outside a wait (wake-ups)"] += seconds
            continue
        for group, n in samples[tid].items():
            groups[group] += seconds * n / counted
        for (group, frame), n in frames_of[tid].items():
            top.setdefault(group, Counter())[frame] += seconds * n / counted
    return groups, top


def thread_cpu_seconds(pid: int) -> dict[int, tuple[float, int]]:
    """(user + system CPU seconds, context switches) of each thread of ``pid`` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[float, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        switches = sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches:" in line)
        out[int(task.name)] = ((int(fields[11]) + int(fields[12])) / tick, switches)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--profiler", choices=("py-spy", "cprofile"),
                        default="py-spy" if Path(PY_SPY).exists() else "cprofile")
    parser.add_argument("--database-url", help="PostgreSQL (an empty database); default: a fresh SQLite file")
    parser.add_argument("--keep", help="copy the raw profile (py-spy collapsed stacks, or pstats) here")
    parser.add_argument("--top", type=int, default=4, help="functions shown per group")
    parser.add_argument("--serve-profiled", nargs=3, metavar=("DIR", "PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_profiled:
        _serve_profiled(Path(args.serve_profiled[0]), int(args.serve_profiled[1]), Path(args.serve_profiled[2]),
                        args.database_url)
        return
    with contextlib.ExitStack() as stack:
        postmaster = None
        if args.database_url == TEMPORARY:
            args.database_url, postmaster = stack.enter_context(temporary_postgresql())
        server_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        prepare(server_dir, "mlkem768x25519", args.database_url)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sealed = seal_many(server_dir, "mlkem768x25519", int(2500 * args.seconds) + 500, args.database_url)
        out = server_dir / ("profile.raw" if args.profiler == "py-spy" else "profile.pstats")
        url = ["--database-url", args.database_url] if args.database_url else []
        if args.profiler == "py-spy":
            cmd = [sys.executable, str(Path(__file__).parent / "ingest.py"), "--serve", str(server_dir), str(port),
                   *url]
        else:
            cmd = [sys.executable, __file__, "--serve-profiled", str(server_dir), str(port), str(out), *url]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spy: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + 60
            while listeners(port) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            warm = [_request("/api/v1/projects/demo/reports", sealed.pop()) for _ in range(50)]
            asyncio.run(run_load(port, warm, 5.0, 4))
            requests = [_request("/api/v1/projects/demo/reports", body) for body in sealed]
            if args.profiler == "py-spy":  # attached for the measured window only
                spy = subprocess.Popen([PY_SPY, "record", "--threads", "--nonblocking", "-f", "raw",
                                        "-r", str(args.rate), "-d", str(int(args.seconds + 1)), "-o", str(out),
                                        "--pid", str(server.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)  # py-spy attaches
            else:
                os.kill(server.pid, signal.SIGUSR1)
            cpu_before, threads_before = tree_cpu_seconds(server.pid), thread_cpu_seconds(server.pid)
            db_before = postgres_cpu_seconds(postmaster) if args.database_url else 0.0
            elapsed, latencies, statuses = asyncio.run(run_load(port, requests, args.seconds, args.concurrency))
            cpu = tree_cpu_seconds(server.pid) - cpu_before
            db_cpu = postgres_cpu_seconds(postmaster) - db_before if args.database_url else 0.0
            threads = {tid: (seconds - threads_before.get(tid, (0.0, 0))[0],
                             switches - threads_before.get(tid, (0.0, 0))[1])
                       for tid, (seconds, switches) in thread_cpu_seconds(server.pid).items()}
            if spy is not None:
                spy.wait(timeout=120)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=120)
        stored = statuses.get(201, 0)
        if args.keep:
            shutil.copy(out, args.keep)
            if Path(str(out) + ".main").exists():
                shutil.copy(str(out) + ".main", args.keep + ".main")
        groups, top = (_pyspy_groups(out, {tid: seconds for tid, (seconds, _) in threads.items()})
                       if args.profiler == "py-spy" else _cprofile_groups(out))
    report(args, groups, top, cpu, stored, elapsed, statuses)
    if db_cpu:
        print(f"\nPostgreSQL server processes (not profiled): {db_cpu / max(1, stored) * 1e6:.0f} us CPU per stored "
              "report more")
    print("\nthreads of the server process (from /proc; the writer thread is the busiest after the loop):")
    print_table(["thread", "CPU us/stored", "context switches/stored"],
                [["event loop (main thread)" if tid == server.pid else f"thread {tid}",
                  f"{seconds / max(1, stored) * 1e6:.0f}", f"{switches / max(1, stored):.1f}"]
                 for tid, (seconds, switches) in sorted(threads.items(), key=lambda kv: -kv[1][0])[:4]])


def report(args: argparse.Namespace, groups: Counter[str], top: dict[str, Counter[str]], cpu: float, stored: int,
           elapsed: float, statuses: dict[int, int]) -> None:
    """Print the groups (share, us per stored report, cumulative share) and their top functions."""
    per_report = cpu / max(1, stored) * 1e6
    total = sum(groups.values()) or 1
    rows = []
    running = 0.0
    for group, value in groups.most_common():
        running += value / total
        rows.append([group, f"{value / total:.1%}", f"{value / total * per_report:.0f}", f"{running:.0%}"])
    database = "PostgreSQL" if args.database_url else "SQLite synchronous=FULL"
    print(f"\n{args.profiler}, {database}, one uvicorn process, {args.concurrency} connections, {elapsed:.1f} s: "
          f"{stored} stored ({stored / elapsed:,.0f}/s under the profiler), server process CPU "
          f"{per_report:.0f} us per stored report (statuses {dict(statuses)})")
    print_table(["group", "share", "us/stored", "cumulative"], rows)
    print()
    for group, _ in groups.most_common(6):
        print(f"{group}:")
        for frame, value in top.get(group, Counter()).most_common(args.top):
            print(f"  {value / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
