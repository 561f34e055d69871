"""Client-side sampling, rate limits and deduplication, before a report is built or sealed.

:meth:`Limiter.decide` answers, in this order:

1. ``"duplicate"``: a report with the same fingerprint was *sent* less than
   ``policy.limits.dedupe_window_s`` ago (0 turns this off);
2. ``"sampled_out"``: a random draw above the sampling rate;
3. ``"rate_limited"``: ``reports_per_hour`` reports were sent in the last 3600 s, or
   ``reports_per_day`` in the last 86400 s (sliding windows);
4. ``"send"``: the report may go; it is recorded (time and fingerprint) at once.

Anything but ``"send"`` is counted; :meth:`Limiter.take_counts` hands the counts to the next
report's ``client_stats`` so developers see honest numbers.

Overrides (``[[sampling.overrides]]`` and ``[[limits.overrides]]`` in the policy) match the
app's ``release`` with an ``fnmatch`` pattern and its ``cohort`` exactly; an override naming
both matches only if both do. When several match, **the most specific wins**:

1. one that names both a release and a cohort beats one that names a single condition;
2. then one that names a cohort beats one that names only a release pattern (a cohort is a
   deliberate group; a pattern is often broad);
3. then the release pattern with more literal characters (not ``*?[]``) wins
   (``"2.4.1"`` beats ``"2.4.*"`` beats ``"2.*"``);
4. then the one declared first.

The remote config's rate (:meth:`Limiter.set_remote_sample_rate`) can only lower the
sampling rate: the effective rate is ``min(policy rate, remote rate)``.

State (``state_path``, small JSON, no report content: send times, fingerprints seen in the
dedupe window, and the pending counts) is re-read and rewritten under an ``flock`` at each
decision, so the limits hold across restarts of a crash-looping app and across forked
workers. It is written atomically (temp file + rename) but not fsynced: a decision sits on
the crash path, and a lost update after a power cut costs at most a few extra reports.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol, TypeVar

from crashveil.policy.model import Policy, RateOverride
from crashveil.sdk.delivery.files import flock
from crashveil.wire.canonical import canonical_json

__all__ = ["DECISIONS", "Limiter", "select_override", "specificity"]

DECISIONS = ("send", "sampled_out", "rate_limited", "duplicate")
_HOUR_S = 3600.0
_DAY_S = 86400.0
_STATE_VERSION = 1
_MAX_FINGERPRINTS = 1000  # bound the state file even with a huge dedupe window


class _Conditional(Protocol):
    @property
    def release(self) -> str | None: ...

    @property
    def cohort(self) -> str | None: ...


C = TypeVar("C", bound=_Conditional)


def specificity(release_pattern: str | None, cohort: str | None) -> tuple[int, int, int]:
    """The sort key of an override: (conditions named, names a cohort, literal characters)."""
    literal = sum(ch not in "*?[]" for ch in release_pattern) if release_pattern else 0
    return ((release_pattern is not None) + (cohort is not None), int(cohort is not None), literal)


def select_override(overrides: Iterable[C], release: str | None, cohort: str | None) -> C | None:
    """The most specific override matching ``release`` and ``cohort`` (rules in the module doc)."""
    from fnmatch import fnmatchcase

    best: C | None = None
    best_key: tuple[int, int, int] | None = None
    for override in overrides:
        if override.release is None and override.cohort is None:
            continue  # applies to nothing (the loaders refuse these)
        if override.release is not None and (release is None or not fnmatchcase(release, override.release)):
            continue
        if override.cohort is not None and override.cohort != cohort:
            continue
        key = specificity(override.release, override.cohort)
        if best_key is None or key > best_key:  # strict: the first declared wins a tie
            best, best_key = override, key
    return best


class Limiter:
    """Decides whether a crash becomes a report: sampling, rate limits, deduplication.

    Args:
        policy: the policy (``sampling`` and ``limits`` sections).
        release: the app's release, matched against override patterns.
        cohort: the app's cohort (e.g. ``"beta"``), matched exactly.
        state_path: where to keep the state across restarts; ``None`` keeps it in memory.
        now: the clock.
        rng: the sampling draw's randomness.
    """

    def __init__(self, policy: Policy, *, release: str | None, cohort: str | None,
                 state_path: Path | None = None, now: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.policy = policy
        self.release = release
        self.cohort = cohort
        self.state_path = Path(state_path) if state_path is not None else None
        self._now = now
        self._rng = rng if rng is not None else random.Random()
        self._remote_rate: float | None = None
        sampling = select_override(policy.sampling.overrides, release, cohort)
        self.policy_sample_rate = sampling.value if sampling is not None else policy.sampling.rate
        hourly: RateOverride | None = select_override(policy.limits.overrides, release, cohort)
        self.reports_per_hour = int(hourly.value) if hourly is not None else policy.limits.reports_per_hour
        self.reports_per_day = policy.limits.reports_per_day
        self.dedupe_window_s = float(policy.limits.dedupe_window_s)
        self._memory: dict[str, Any] = _empty_state()
        self._disk_failed = False  # the state file cannot be written: limit in memory instead

    # -- rates -----------------------------------------------------------------------------
    @property
    def sample_rate(self) -> float:
        """The effective sampling rate: the policy's, lowered by the remote config if it says so."""
        if self._remote_rate is None:
            return self.policy_sample_rate
        return min(self.policy_sample_rate, self._remote_rate)

    def set_remote_sample_rate(self, rate: float | None) -> None:
        """Apply the remote config's rate; it can only lower the policy's. ``None`` clears it.

        A value that is not a number in [0, 1] is ignored (the policy rate stays).
        """
        if rate is None:
            self._remote_rate = None
        elif isinstance(rate, (int, float)) and not isinstance(rate, bool) and not math.isnan(rate) \
                and 0.0 <= rate <= 1.0:
            self._remote_rate = float(rate)

    # -- decisions -------------------------------------------------------------------------
    def decide(self, fingerprint: str) -> str:
        """``"send"``, ``"sampled_out"``, ``"rate_limited"`` or ``"duplicate"`` (see module doc)."""
        with self._state() as state:
            now = self._now()
            _prune(state, now, self.dedupe_window_s)
            last = state["last_sent"].get(fingerprint)
            if self.dedupe_window_s > 0 and last is not None and now - last < self.dedupe_window_s:
                decision = "duplicate"
            elif not self._rng.random() < self.sample_rate:
                decision = "sampled_out"
            elif (sum(1 for t in state["sent"] if t > now - _HOUR_S) >= self.reports_per_hour
                  or len(state["sent"]) >= self.reports_per_day):
                decision = "rate_limited"
            else:
                decision = "send"
                state["sent"].append(now)
                state["last_sent"][fingerprint] = now
            if decision != "send":
                state["counts"][decision] = state["counts"].get(decision, 0) + 1
            return decision

    def counts(self) -> dict[str, int]:
        """Crashes not reported since the last :meth:`take_counts`, by reason (non-zero only)."""
        with self._state(write=False) as state:
            return dict(state["counts"])

    def take_counts(self) -> dict[str, int]:
        """Return the counts and reset them (they went into a report's ``client_stats``)."""
        with self._state() as state:
            counts = dict(state["counts"])
            state["counts"] = {}
            return counts

    # -- state -----------------------------------------------------------------------------
    @contextmanager
    def _state(self, *, write: bool = True) -> Iterator[dict[str, Any]]:
        if self.state_path is None or self._disk_failed:
            yield self._memory
            return
        lock = flock(self.state_path.with_name(self.state_path.name + ".lock"), blocking=True) \
            if self._can_lock() else nullcontext(True)
        with lock:
            state = self._load()
            yield state
            if write:
                self._save(state)

    def _can_lock(self) -> bool:
        assert self.state_path is not None
        try:
            self.state_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
        return True

    def _load(self) -> dict[str, Any]:
        assert self.state_path is not None
        try:
            data = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError):
            return _empty_state()  # missing or damaged: start afresh
        return _checked_state(data)

    def _save(self, state: dict[str, Any]) -> None:
        assert self.state_path is not None
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(canonical_json(state, ensure_ascii=True))
            os.replace(tmp, self.state_path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._memory = state  # keep limiting in this process at least
            self._disk_failed = True


def _empty_state() -> dict[str, Any]:
    return {"version": _STATE_VERSION, "sent": [], "last_sent": {}, "counts": {}}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_state(data: object) -> dict[str, Any]:
    """Keep only well-formed entries of a state read from disk."""
    state = _empty_state()
    if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
        return state
    sent = data.get("sent")
    if isinstance(sent, list):
        state["sent"] = [float(t) for t in sent if _number(t)]
    last_sent = data.get("last_sent")
    if isinstance(last_sent, dict):
        state["last_sent"] = {k: float(v) for k, v in last_sent.items() if isinstance(k, str) and _number(v)}
    counts = data.get("counts")
    if isinstance(counts, dict):
        state["counts"] = {k: v for k, v in counts.items()
                           if k in DECISIONS and isinstance(v, int) and not isinstance(v, bool) and v > 0}
    return state


def _prune(state: dict[str, Any], now: float, dedupe_window_s: float) -> None:
    """Forget sends older than a day and fingerprints older than the dedupe window.

    Times far in the future (a clock set back) are kept for at most a day past ``now``, so a
    wrong clock cannot block reports for longer than that.
    """
    state["sent"] = sorted(t for t in state["sent"] if now - _DAY_S < t <= now + _DAY_S)
    recent = {fp: t for fp, t in state["last_sent"].items() if now - dedupe_window_s < t <= now + _DAY_S}
    if len(recent) > _MAX_FINGERPRINTS:
        recent = dict(sorted(recent.items(), key=lambda kv: kv[1])[-_MAX_FINGERPRINTS:])
    state["last_sent"] = recent
