#!/usr/bin/env python3
"""Run the reliability suite and rewrite the figures section of ``docs/reliability.md``.

Usage::

    python scripts/reliability_report.py            # short suite (CI sizes), then the figures
    python scripts/reliability_report.py --long     # x20: 200 kills per database, more installs
    python scripts/reliability_report.py --no-run   # only re-read test-output/reliability/*.json

It runs ``pytest tests/reliability`` on two xdist workers (``--workers``), with
``CRASHVEIL_RELIABILITY_SCALE=20`` under ``--long``, reads the JSON the tests and
``scripts/load.py`` leave in ``test-output/reliability/``, and
replaces everything between the ``<!-- figures:begin -->`` and ``<!-- figures:end -->``
markers of ``docs/reliability.md``. Exit status: pytest's, or 1 if any report was lost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-output" / "reliability"
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def run_suite(long: bool, workers: int) -> tuple[int, str]:
    env = {**os.environ, "CRASHVEIL_RELIABILITY_SCALE": "20" if long else "1"}
    parallel = ["-n", str(workers)] if workers > 1 and importlib.util.find_spec("xdist") else []
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider",
                           "-rxX", *parallel], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return done.returncode, summary[-1].strip("= ") if summary else done.stdout[-500:]


def _read(name: str) -> dict[str, Any] | None:
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def figures(summary: str) -> tuple[str, int]:
    lines = [f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
             "`python scripts/reliability_report.py`; suite: " + summary + ".", ""]
    lost = 0
    lines += ["| run | database | held | result | lost |", "| --- | --- | --- | --- | --- |"]
    for db in ("sqlite", "postgresql"):
        load = _read(f"load-{db}.json")
        if load:
            lost += load["lost"]
            lines.append(f"| load | {db} | {load['target_rate']:.0f}/s target, {load['achieved_rate']}/s achieved, "
                         f"{load['duration_s']:.0f} s, {load['senders']} senders | {load['accepted']} accepted, "
                         f"{load['stored']} stored, rejected {load['rejected'] or 'none'}, p50 {load['p50_ms']} ms, "
                         f"p99 {load['p99_ms']} ms, server peak RSS {load['server_peak_rss_kb'] // 1024} MiB "
                         f"| {load['lost']} |")
    mass = _read("mass-failure.json")
    if mass:
        lost += mass["lost"] + mass["probe_lost"]
        lines.append(f"| mass failure | {mass['database']} | {mass['installs']} installs, one crash | "
                     f"{mass['delivered']} delivered once, {mass['rate_limited']} answers 429 (Retry-After obeyed: "
                     f"{mass['retry_after_obeyed']}), counts-only groups {mass['counts_only_groups']}, "
                     f"{mass['stored_without_detail']} stored as counts only; other groups p99 "
                     f"{mass['probe_p99_ms']} ms, answers {mass['probe_answers']} | "
                     f"{mass['lost'] + mass['probe_lost']} |")
    for db in ("sqlite", "postgresql"):
        kill = _read(f"kill9-{db}.json")
        if kill:
            lost += kill["lost"]
            lines.append(f"| kill -9 | {db} | {kill['kills']} kills (seed {kill['seed']}) | {kill['reports']} reports, "
                         f"{kill['acknowledged']} acknowledged, answers {kill['answers']}, half-written: "
                         f"{len(kill['problems'])} | {kill['lost']} |")
    client = _read("client-kill.json")
    if client:
        lost += client["lost"]
        caught = ", ".join(f"{mode} {n}" for mode, n in client["caught"].items())
        lines.append(f"| app kill -9 (client) | sqlite | {client['kills']} kills (seed {client['seed']}): {caught} | "
                     f"{client['reports_written']} crashes written, {client['on_disk_at_a_kill']} on disk at a kill, "
                     f"{client['kills_during_a_write']} writes cut, {client['stored_but_still_queued_at_kill']} "
                     f"stored but still queued (re-sent); {client['stored']} stored, duplicates "
                     f"{client['duplicates']}, torn items {client['torn_items']}, SDK internal errors "
                     f"{len(client['internal_errors'])} | {client['lost']} |")
    for path in sorted(OUT.glob("timing-*.json")):
        t = json.loads(path.read_text())
        real, control = t["real"], t["control"]
        lines.append(f"| timing | {t['target']} | {t['call_us']} µs a call, {real['pairs']} pairs of "
                     f"{t.get('of', 1)}x{t['batch']} calls (seed {t['seed']}) | long prefix vs first byte: "
                     f"{real['median'] * 100:+.2f} % (sign test p = {real['p']:.2g}); leaky `==` control over "
                     f"{t['control_bytes']} B: {control['median'] * 100:+.2f} % (p = {control['p']:.2g}, "
                     f"{'detected' if control['leaks'] else 'NOT detected'}) | {'leak' if real['leaks'] else 'none'} |")
    fuzz = _read("../fuzz.json")
    if fuzz:
        runs = ", ".join(f"{t} {r.get('runs') or r.get('examples')}" for t, r in fuzz.items())
        lines.append(f"| fuzz (scripts/fuzz.py) | - | {runs} inputs | crashes: "
                     f"{sum(1 for r in fuzz.values() if r['crashed'])} | - |")
    lines += ["", f"**Reports lost: {lost}.**"]
    return "\n".join(lines), lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the long versions (x20)")
    parser.add_argument("--no-run", action="store_true", help="only rewrite the figures from the last run")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2; 1: serial)")
    args = parser.parse_args(argv)
    code, summary = (0, "not run (--no-run)") if args.no_run else run_suite(args.long, args.workers)
    text, lost = figures(summary)
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
    print(text)
    return code or (1 if lost else 0)


if __name__ == "__main__":
    sys.exit(main())
