"""Timing of secret comparisons: a wrong token that shares a long prefix with the right one
takes no measurably longer to refuse than one that differs in its first byte.

The real functions, in process: the dashboard's CSRF token (``dashboard/csrf.py``
``check_session_token``) and log-in nonce (``check_login_pair``), API tokens
(``access.py`` ``AccessStore.authenticate_token``) and session ids (``load_session``) over a
migrated SQLite database.

The statistic (stdlib only). Each sample is a *pair*: five batches of calls with the prefix
candidate and five with the first-byte candidate, alternately, each time in a random order;
``d = log(fastest prefix batch / fastest first-byte batch)``. Pairing cancels the slow drift
of a shared machine, the minimum drops the batches another process preempted, and the random
order makes the sign of ``d`` a fair coin when nothing leaks, whatever the noise. A leak is
reported when an exact two-sided sign test gives p < ``ALPHA`` *and* the median of ``d`` is
above ``EFFECT`` (1 % of the call time): a false alarm needs both, so noise alone does not
fail the test. Only a positive ``d`` is a leak: a comparison that gives away how much of the
secret was right takes *longer* the longer the shared prefix. A prefix candidate that is
reliably faster (seen once at -3 %, from the candidates' own parsing) tells an attacker
nothing about the secret. (The test is that sensitive: two copies of one string can differ by ~0.1 %,
by where they sit in memory; that is below ``EFFECT``.)

The positive control, in the same loop and under the same noise: the same real call
followed by an ``==`` (early exit at the first differing byte) between long strings, sized
at start so that the early exit is worth ``CONTROL_LEAK`` (3 %) of the call. The same
statistic must report it as a leak, or the test fails for want of power. Sampling goes on
(up to a cap) until the control is detected; the stopping rule looks at the control only,
so the sign test of the real comparison stays exact. If the cap comes first (the control's
size is calibrated once, at start, and a preempted calibration can make it too small to
see), the whole measurement starts again, calibration included, up to ``ATTEMPTS`` times;
the verdict is the attempt's whose control was seen. Choosing an attempt by its control
alone leaves the real comparison's sign a fair coin when nothing leaks.

``CRASHVEIL_RELIABILITY_SCALE`` multiplies the pairs; ``CRASHVEIL_TIMING_SEED`` replays an order.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
_OUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability"

ALPHA = 1e-4  # sign-test level for "significant"
EFFECT = 0.01  # a leak must also move the median call time by more than 1 %
CONTROL_LEAK = 0.03  # the control's early exit is sized to 3 % of the call
ATTEMPTS = 3  # measurements, each calibrated anew, until one sees its control


# -- the statistic -----------------------------------------------------------------------------
def sign_test_p(d: list[float]) -> float:
    """Exact two-sided sign test of "median 0" (zeros dropped)."""
    pos = sum(1 for x in d if x > 0)
    n = pos + sum(1 for x in d if x < 0)
    if n == 0:
        return 1.0
    k = min(pos, n - pos)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


@dataclass(frozen=True)
class Verdict:
    pairs: int
    median: float  # median of log(t_prefix / t_first): ~ the relative difference
    p: float

    @property
    def leaks(self) -> bool:
        return self.p < ALPHA and self.median > EFFECT  # slower with the right prefix: see the module doc

    def __str__(self) -> str:
        return f"median {self.median * 100:+.2f} % over {self.pairs} pairs, sign test p = {self.p:.2g}"


def verdict(d: list[float]) -> Verdict:
    return Verdict(len(d), statistics.median(d), sign_test_p(d))


def test_the_statistic_itself() -> None:
    """Sign test p-values against hand-computed ones; a symmetric sample does not leak, one shifted up
    (slower with the right prefix) does, one shifted down does not."""
    rng = random.Random(5)
    noise = [rng.gauss(0, 0.05) for _ in range(400)]
    assert (2 / 1024, 1.0, 2 * 386 / 1024) == (sign_test_p([1.0] * 10), sign_test_p([1.0, -1.0]),
                                                  sign_test_p([1.0] * 4 + [-1.0] * 6))
    assert (False, True, False) == (verdict(noise).leaks, verdict([x + 0.05 for x in noise]).leaks,
                                    verdict([x - 0.05 for x in noise]).leaks)  # faster with the prefix: no leak


# -- measuring -----------------------------------------------------------------------------------
def _batch_ns(call: Callable[[str], Any], arg: str, k: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(k):
        call(arg)
    return time.perf_counter_ns() - start


def _pair(call: Callable[[str], Any], prefix: str, first: str, k: int, m: int, rng: random.Random) -> float:
    """``log(t_prefix / t_first)``: the fastest of ``m`` batches of each, measured alternately in random order."""
    t_prefix, t_first = [], []
    for _ in range(m):
        if rng.random() < 0.5:
            t_prefix.append(_batch_ns(call, prefix, k))
            t_first.append(_batch_ns(call, first, k))
        else:
            t_first.append(_batch_ns(call, first, k))
            t_prefix.append(_batch_ns(call, prefix, k))
    return math.log(max(min(t_prefix), 1) / max(min(t_first), 1))


def _flip(ch: str) -> str:
    return "A" if ch != "A" else "B"


def candidates(right: str, start: int = 0) -> tuple[str, str]:
    """(wrong only in its last character, wrong in its first secret character ``right[start]``)."""
    return right[:-1] + _flip(right[-1]), right[:start] + _flip(right[start]) + right[start + 1:]


def _per_call_ns(call: Callable[[str], Any], arg: str, k: int) -> float:
    return statistics.median(_batch_ns(call, arg, k) for _ in range(15)) / k


def _compare_ns(call: Callable[[str], Any], arg: str, expected: str, other: str, reps: int) -> float:
    """Median time of ``expected == other`` alone, each right after ``call(arg)`` (cache as in the loop)."""
    times = []
    for _ in range(reps):
        call(arg)
        start = time.perf_counter_ns()
        expected == other  # noqa: B015 - timed for its own sake
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times)


def _long_strings(call: Callable[[str], Any], arg: str, leak_ns: float, reps: int) -> tuple[str, str, str]:
    """(expected, one wrong in its last byte, one wrong in its first byte), long enough that
    ``expected == wrong_last`` takes ``leak_ns`` longer than ``expected == wrong_first``
    where the control runs it: right after the real call."""
    size = 4096
    for _ in range(5):
        expected = "s" * size
        last, first = expected[:-1] + "t", "t" + expected[1:]
        cost = _compare_ns(call, arg, expected, last, reps) - _compare_ns(call, arg, expected, first, reps)
        new = min(max(int(size * leak_ns / max(cost, 1.0)), 64), 256 << 20)
        if abs(new - size) < size // 8:
            break
        size = new
    return expected, last, first


def measure(call: Callable[[str], Any], right: str, k: int, pairs: int, rng: random.Random,
            start: int = 0, m: int = 5) -> tuple[Verdict, Verdict, dict[str, Any]]:
    """Real comparison and positive control, interleaved; sample until the control is seen."""
    prefix, first = candidates(right, start)
    call_ns = _per_call_ns(call, prefix, k)
    expected, long_last, long_first = _long_strings(call, prefix, CONTROL_LEAK * call_ns, max(15, 3 * k))
    longs = {prefix: long_last, first: long_first}

    def leaky(candidate: str) -> bool:
        call(candidate)
        return expected == longs[candidate]  # early exit: the deliberately leaky comparison

    real: list[float] = []
    control: list[float] = []
    deadline = time.monotonic() + 60.0 * SCALE
    while len(real) < 8 * pairs and time.monotonic() < deadline:
        for _ in range(pairs // 2 if real else pairs):
            real.append(_pair(call, prefix, first, k, m, rng))
            control.append(_pair(leaky, prefix, first, k, m, rng))
        if verdict(control).leaks:
            break
    info = {"call_us": round(call_ns / 1000, 2), "batch": k, "of": m, "control_bytes": len(expected)}
    return verdict(real), verdict(control), info


# -- the targets: the real functions ----------------------------------------------------------------
PASSWORD = "correct horse battery"


def _access_store(tmp_path: Path) -> Any:
    from argon2 import PasswordHasher

    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    engine = create_engine(f"sqlite:///{tmp_path / 'governance.db'}")
    migrate(engine)
    def clock() -> datetime:
        return datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    store = AccessStore(engine, AuditTrail.for_server_dir(engine, tmp_path, now=clock), now=clock,
                        hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    store.add_user("dana", PASSWORD, actor="cli")
    store.grant("dana", "alpha", "developer", actor="cli")
    return store


def _target(name: str, tmp_path: Path) -> tuple[Callable[[str], Any], str, int, int, int]:
    """(verify(candidate) -> accepted?, the right secret, first secret index, calls per batch, pairs)."""
    from crashveil.server.dashboard import csrf

    if name == "csrf_session_token":
        secret, session_id = os.urandom(32), "s" * 43
        return ((lambda token: csrf.check_session_token(secret, session_id, token)),
                csrf.session_token(secret, session_id), 0, 40, 150)
    if name == "login_nonce":
        secret = os.urandom(32)
        cookie, nonce = csrf.new_login_pair(secret)
        return (lambda form: csrf.check_login_pair(secret, cookie, form)), nonce, 0, 8, 150
    store = _access_store(tmp_path)
    if name == "api_token":
        from crashveil.errors import AccessDenied

        _, token = store.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")

        def authenticate(candidate: str) -> bool:
            try:
                store.authenticate_token(candidate)
            except AccessDenied:
                return False
            return True

        return authenticate, token, token.rindex("_") + 1, 2, 100
    assert name == "session_id"
    _, session_id = store.login("dana", PASSWORD)
    return (lambda candidate: store.load_session(candidate) is not None), session_id, 0, 2, 100


@pytest.mark.parametrize("target", ["csrf_session_token", "login_nonce", "api_token", "session_id"])
def test_secret_comparison_does_not_leak_by_timing(target: str, tmp_path: Path) -> None:
    """Refusing a wrong secret takes as long whether it shares a long prefix with the right one
    or differs in its first byte; the same statistic does see a deliberately leaky ``==``."""
    verify, right, start, k, pairs = _target(target, tmp_path)
    prefix, first = candidates(right, start)
    assert (True, False, False) == (verify(right), verify(prefix), verify(first))  # the right function
    seed = int(os.environ.get("CRASHVEIL_TIMING_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    attempts = 0
    while True:
        attempts += 1
        real, control, info = measure(verify, right, k, pairs * SCALE, rng, start)
        if control.leaks or attempts == ATTEMPTS:
            break
    info["attempts"] = attempts
    result = {"target": target, "seed": seed, **info, "real": {"pairs": real.pairs, "median": real.median,
                                                              "p": real.p, "leaks": real.leaks},
              "control": {"pairs": control.pairs, "median": control.median, "p": control.p, "leaks": control.leaks}}
    _OUT.mkdir(parents=True, exist_ok=True)
    (_OUT / f"timing-{target}.json").write_text(json.dumps(result, indent=2) + "\n")
    message = f"{target} (seed {seed}): real {real}; control ({info['control_bytes']} B ==) {control}"
    assert True is control.leaks, "the positive control was not detected, no power: " + message
    assert False is real.leaks, "timing leak: " + message
