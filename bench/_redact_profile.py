"""Where redaction time goes, gate by gate: the ``--profile`` mode of ``redact_throughput.py``.

It wraps (in this process only) the trigger scan, the home gate, every plan step and every
member of the numeric step, and every test inside the compiled trigger scan, then redacts
the mix once. Printed:

1. per step: how often its gate let it run, how often it then changed the text (a gate that
   passes much more than it changes is the one to tighten), and the time inside it;
2. per test of the trigger scan (the compiled searches and tests): calls and matches;
3. the split of the total between the trigger scan, the home gate, the steps and the rest of
   the engine;
4. ceilings (:func:`ceilings`): the mix when re-scans, or all scans, cost nothing.

Times are wall time with the wrappers' overhead (about a microsecond a call): read them as
proportions. The counts are exact.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from crashveil.redact import Redactor, gates, registry
from crashveil.redact.registry import STEPS

_clock = time.perf_counter_ns


class _Stat:
    __slots__ = ("calls", "hits", "ns")

    def __init__(self) -> None:
        self.calls = self.hits = self.ns = 0


def _counted(fn: Callable[..., Any], stat: _Stat, hit: Callable[[Any, tuple[Any, ...]], bool]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        t0 = _clock()
        out = fn(*args)
        stat.ns += _clock() - t0
        stat.calls += 1
        stat.hits += hit(out, args)
        return out

    return wrapper


def _changed(out: Any, args: tuple[Any, ...]) -> bool:
    return out is not args[0] and out != args[0]


def profile(pairs: list[tuple[str, str]]) -> None:
    """Redact ``pairs`` (kind, text) once with every gate and step counted, and print the tables."""
    gates.trigger_source()  # compile the scan, so that its globals exist
    steps: dict[str, _Stat] = {}
    tests: dict[str, _Stat] = {}
    scan, home = _Stat(), _Stat()
    red = Redactor()
    members = tuple(dataclasses.replace(d, run=_counted(d.run, steps.setdefault(d.name, _Stat()), _changed))
                    for d in registry.REGISTRY if d.digit_run)
    for kind, plan in list(red._plans.items()):
        wrapped = []
        for i, fn in enumerate(plan.steps):
            if fn is not None:
                if STEPS[i] == registry.NUMERIC_STEP:
                    fn = gates.numeric_group(members)
                fn = _counted(fn, steps.setdefault(STEPS[i], _Stat()), _changed)
            wrapped.append(fn)
        red._plans[kind] = plan._replace(steps=tuple(wrapped))
    names = gates.triggers.__globals__
    saved = {n: names[n] for n in names if n.startswith(("_s_", "_test_", "_findall_"))}
    saved_scan, saved_home = gates.triggers, gates.home_gate
    try:
        for n, fn in saved.items():
            names[n] = _counted(fn, tests.setdefault(n.lstrip("_"), _Stat()), lambda out, args: bool(out))
        gates.triggers = _counted(saved_scan, scan, lambda out, args: bool(out))
        gates.home_gate = _counted(saved_home, home, lambda out, args: bool(out))
        t0 = _clock()
        for kind, text in pairs:
            red.redact(text, kind)
        total = _clock() - t0
    finally:
        names.update(saved)
        gates.triggers, gates.home_gate = saved_scan, saved_home
    _print(steps, tests, scan, home, total, len(pairs))
    ceilings(pairs)


def _print(steps: dict[str, _Stat], tests: dict[str, _Stat], scan: _Stat, home: _Stat, total: int, n: int) -> None:
    print(f"profile of {n} strings (wall time with counting overhead; the counts are exact)\n")
    head = f"{'step (gate -> detector)':<26}{'ran':>8}{'changed':>9}{'changed %':>11}{'ms':>9}{'% time':>8}"
    print(head)
    print("-" * len(head))
    for name, s in sorted(steps.items(), key=lambda kv: -kv[1].ns):
        if s.calls:
            print(f"{name:<26}{s.calls:>8}{s.hits:>9}{100 * s.hits / s.calls:>10.0f}%{s.ns / 1e6:>9.1f}"
                  f"{100 * s.ns / total:>7.1f}%")
    head = f"\n{'trigger-scan test':<34}{'calls':>8}{'matched':>9}{'matched %':>11}{'ms':>9}"
    print(head)
    print("-" * (len(head) - 1))
    for name, s in sorted(tests.items(), key=lambda kv: -kv[1].calls):
        if s.calls:
            print(f"{name:<34}{s.calls:>8}{s.hits:>9}{100 * s.hits / s.calls:>10.0f}%{s.ns / 1e6:>9.1f}")
    numeric = {d.name for d in registry.REGISTRY if d.digit_run}
    in_steps = sum(s.ns for name, s in steps.items() if name not in numeric)
    rest = total - scan.ns - home.ns - in_steps
    print(f"\n{'where the time goes':<34}{'calls':>8}{'ms':>9}{'% time':>8}")
    print("-" * 59)
    for label, calls, ns in (("trigger scan", scan.calls, scan.ns), ("home gate", home.calls, home.ns),
                             ("steps (detectors)", sum(s.calls for k, s in steps.items() if k not in numeric),
                              in_steps), ("engine (the rest)", n, rest), ("total", n, total)):
        print(f"{label:<34}{calls:>8}{ns / 1e6:>9.1f}{100 * ns / total:>7.1f}%")


def ceilings(pairs: list[tuple[str, str]], repeat: int = 5) -> None:
    """How fast the mix could get if the trigger scans cost nothing: the mix timed as it is,
    with every re-scan after a change answered by a dictionary look-up (filled in a first
    run), and with every scan and home gate answered so. Bounds for work on the scans: a
    re-scan limited to the changed window can at best reach the second figure."""
    red = Redactor()
    scan, home = gates.triggers, gates.home_gate
    memo: dict[tuple[str, bool, int], int] = {}
    home_memo: dict[str, bool] = {}
    first = [True]

    def scan_or_memo(t: str, env: bool = False, skip: int = 0) -> int:
        key = (t, env, skip)
        out = memo.get(key)
        if out is None:
            out = memo[key] = scan(t, env, skip)
        return out

    def rescans_free(t: str, env: bool = False, skip: int = 0) -> int:
        if first[0]:
            first[0] = False
            return scan(t, env, skip)
        return scan_or_memo(t, env, skip)

    def home_or_memo(t: str) -> bool:
        out = home_memo.get(t)
        if out is None:
            out = home_memo[t] = home(t)
        return out

    def run() -> None:
        for kind, text in pairs:
            first[0] = True
            red.redact(text, kind)

    def timed(scan_fn: Any, home_fn: Any) -> float:
        gates.triggers, gates.home_gate = scan_fn, home_fn
        try:
            run()  # (fills the memos)
            best = float("inf")
            for _ in range(repeat):
                t0 = time.process_time()
                run()
                best = min(best, time.process_time() - t0)
            return best
        finally:
            gates.triggers, gates.home_gate = scan, home

    now = timed(scan, home)
    no_rescans = timed(rescans_free, home)
    no_scans = timed(scan_or_memo, home_or_memo)
    print(f"\nceilings (CPU time, best of {repeat}; a look-up stands in for a scan)")
    print("-" * 59)
    for label, sec in (("the mix as it is", now), ("re-scans after a change free", no_rescans),
                       ("every scan and home gate free", no_scans)):
        print(f"{label:<34}{sec * 1e3:>9.1f} ms{now / sec:>8.2f}x")
