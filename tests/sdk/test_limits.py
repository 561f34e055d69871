"""Client limits: sampling, hourly and daily limits, dedupe, overrides, persistence, remote rate."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from crashveil.policy.model import (
    AggregationSettings,
    KeyPeriods,
    LimitSettings,
    NoticeSettings,
    Policy,
    RateOverride,
    RedactionSettings,
    SamplingSettings,
)
from crashveil.sdk.delivery.limits import Limiter, select_override

T0 = 1_800_000_000.0
FP = "v1:" + "a" * 32


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def policy(*, rate: float = 1.0, per_hour: int = 10, per_day: int = 50, dedupe_s: int = 0,
           sampling_overrides: tuple[RateOverride, ...] = (),
           limit_overrides: tuple[RateOverride, ...] = ()) -> Policy:
    # Built directly: the limiter reads only ``sampling`` and ``limits``.
    return Policy(
        name="test", version="1", retention_ceiling_days=30, levels=(), fields={},
        redaction=RedactionSettings(detectors=()), aggregation=AggregationSettings(5, 1.0, 90),
        keys=KeyPeriods(30, 1, 365, 365, 365), notice=NoticeSettings("app", "controller", "contact", "deletion"),
        sampling=SamplingSettings(rate=rate, overrides=sampling_overrides),
        limits=LimitSettings(reports_per_hour=per_hour, reports_per_day=per_day, dedupe_window_s=dedupe_s,
                             queue_max_reports=30, queue_max_bytes=2_000_000, queue_max_age_days=30,
                             overrides=limit_overrides),
    )


def fp(n: int) -> str:
    return f"v1:{n:032x}"


def limiter(pol: Policy, clock: Clock, *, state_path: Path | None = None, release: str | None = "2.4.1",
            cohort: str | None = None, seed: int = 1) -> Limiter:
    return Limiter(pol, release=release, cohort=cohort, state_path=state_path, now=clock, rng=random.Random(seed))


def test_everything_sends_under_the_limits() -> None:
    """With rate 1 and room in the limits every distinct crash is sent."""
    clock = Clock()
    lim = limiter(policy(), clock)
    assert ["send"] * 10 == [lim.decide(fp(i)) for i in range(10)]
    assert {} == lim.counts()


def test_hourly_limit_then_room_again_after_an_hour() -> None:
    """The 11th report within an hour is rate limited; an hour later there is room again."""
    clock = Clock()
    lim = limiter(policy(per_hour=10), clock)
    decisions = [lim.decide(fp(i)) for i in range(12)]
    assert ["send"] * 10 + ["rate_limited"] * 2 == decisions
    clock.t += 3601
    assert "send" == lim.decide(fp(99))
    assert {"rate_limited": 2} == lim.counts()


def test_daily_limit() -> None:
    """Beyond reports_per_day in 24 h reports are rate limited even with hourly room."""
    clock = Clock()
    lim = limiter(policy(per_hour=10, per_day=15), clock)
    sent = 0
    for hour in range(5):
        for i in range(10):
            sent += lim.decide(fp(hour * 100 + i)) == "send"
        clock.t += 3600
    assert 15 == sent
    clock.t = T0 + 86400 + 1
    assert "send" == lim.decide(fp(1000))


def test_duplicate_within_the_window() -> None:
    """The same fingerprint within dedupe_window_s is a duplicate; after the window it sends."""
    clock = Clock()
    lim = limiter(policy(dedupe_s=3600), clock)
    assert ["send", "duplicate", "send"] == [lim.decide(FP), lim.decide(FP), lim.decide(fp(2))]
    clock.t += 3600
    assert "send" == lim.decide(FP)
    assert {"duplicate": 1} == lim.counts()


def test_sampling_rate_is_respected() -> None:
    """At rate 0.25 about a quarter of crashes are sent; the rest are counted sampled_out."""
    clock = Clock()
    lim = limiter(policy(rate=0.25, per_hour=10**6, per_day=10**6), clock)
    decisions = [lim.decide(fp(i)) for i in range(4000)]
    assert 900 < decisions.count("send") < 1100
    assert {"sampled_out": decisions.count("sampled_out")} == lim.counts()


@pytest.mark.parametrize(("rate", "expected"), [(0.0, "sampled_out"), (1.0, "send")])
def test_sampling_extremes(rate: float, expected: str) -> None:
    """Rate 0 never sends; rate 1 always does."""
    lim = limiter(policy(rate=rate), Clock())
    assert [expected] * 5 == [lim.decide(fp(i)) for i in range(5)]


def test_take_counts_returns_and_resets() -> None:
    """take_counts hands over the counts once and starts again from zero."""
    clock = Clock()
    lim = limiter(policy(rate=0.0), clock)
    lim.decide(FP)
    lim.decide(FP)
    assert ({"sampled_out": 2}, {}) == (lim.take_counts(), lim.counts())


def test_limits_hold_across_restarts(tmp_path: Path) -> None:
    """A crash-looping app restarting each time still stops at the hourly limit."""
    clock = Clock()
    state = tmp_path / "state" / "limits.json"
    decisions = []
    for i in range(15):
        decisions.append(limiter(policy(per_hour=10, dedupe_s=3600), clock, state_path=state).decide(fp(i)))
        clock.t += 1
    decisions.append(limiter(policy(dedupe_s=3600), clock, state_path=state).decide(fp(0)))
    assert ["send"] * 10 + ["rate_limited"] * 5 + ["duplicate"] == decisions
    assert {"rate_limited": 5, "duplicate": 1} == limiter(policy(), clock, state_path=state).take_counts()
    assert {} == limiter(policy(), clock, state_path=state).counts()


def test_state_file_holds_no_report_content(tmp_path: Path) -> None:
    """The state file only has send times, fingerprints and counts."""
    state = tmp_path / "limits.json"
    limiter(policy(dedupe_s=60), Clock(), state_path=state).decide(FP)
    import json

    assert {"counts", "last_sent", "sent", "version"} == set(json.loads(state.read_text()))
    assert 0o600 == state.stat().st_mode & 0o777


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"version": 1, "sent": "x", "counts": {"send": true}}',
                                     b"\x00" * 50])
def test_damaged_state_starts_afresh(tmp_path: Path, content: bytes) -> None:
    """A damaged or foreign state file is ignored, never raised on."""
    state = tmp_path / "limits.json"
    state.write_bytes(content)
    assert "send" == limiter(policy(), Clock(), state_path=state).decide(FP)


def test_clock_set_back_cannot_block_for_more_than_a_day() -> None:
    """Send times far in the future (clock moved back) stop counting after a day."""
    clock = Clock()
    lim = limiter(policy(per_hour=1), clock)
    lim.decide(FP)
    clock.t -= 10 * 86400
    assert "send" == lim.decide(fp(2))


# -- overrides ------------------------------------------------------------------------------

def test_cohort_override_sets_the_rate() -> None:
    """A beta cohort override (0.5, as in the default policy) applies to the beta cohort only."""
    pol = policy(rate=0.9, sampling_overrides=(RateOverride(release=None, cohort="beta", value=0.5),))
    assert 0.5 == Limiter(pol, release="1.0", cohort="beta").sample_rate
    assert 0.9 == Limiter(pol, release="1.0", cohort="stable").sample_rate


@pytest.mark.parametrize(("release", "cohort", "expected"), [
    ("2.4.1", "beta", 0.1),   # release + cohort beats everything
    ("2.4.1", None, 0.3),     # exact release pattern beats 2.4.*
    ("2.4.7", None, 0.4),     # 2.4.* beats 2.*
    ("2.9", None, 0.5),       # 2.*
    ("2.9", "beta", 0.2),     # a cohort beats a release pattern
    ("3.0", None, 1.0),       # nothing matches: the policy rate
    (None, None, 1.0),        # no release: release patterns cannot match
])
def test_most_specific_override_wins(release: str | None, cohort: str | None, expected: float) -> None:
    """Both conditions beat one, a cohort beats a pattern, a longer literal pattern beats a shorter."""
    overrides = (
        RateOverride(release="2.*", cohort=None, value=0.5),
        RateOverride(release="2.4.*", cohort=None, value=0.4),
        RateOverride(release="2.4.1", cohort=None, value=0.3),
        RateOverride(release=None, cohort="beta", value=0.2),
        RateOverride(release="2.4.*", cohort="beta", value=0.1),
    )
    assert expected == Limiter(policy(sampling_overrides=overrides), release=release, cohort=cohort).sample_rate


def test_first_declared_wins_a_tie() -> None:
    """Two equally specific matches: the first in the policy file wins."""
    overrides = (RateOverride(release="1.*", cohort=None, value=0.3), RateOverride(release="*.0", cohort=None,
                                                                                     value=0.6))
    assert 0.3 == select_override(overrides, "1.0", None).value  # type: ignore[union-attr]


def test_hourly_limit_override() -> None:
    """A limits override changes reports_per_hour for the matching release."""
    pol = policy(per_hour=10, limit_overrides=(RateOverride(release="canary-*", cohort=None, value=2.0),))
    clock = Clock()
    lim = limiter(pol, clock, release="canary-7")
    assert ["send", "send", "rate_limited"] == [lim.decide(fp(i)) for i in range(3)]


# -- remote config can only lower ------------------------------------------------------------

@pytest.mark.parametrize(("remote", "expected"), [(0.1, 0.1), (0.9, 0.5), (1.0, 0.5), (None, 0.5),
                                                  (float("nan"), 0.5), (-1.0, 0.5), (2.0, 0.5)])
def test_remote_rate_can_only_lower(remote: float | None, expected: float) -> None:
    """The remote rate lowers the policy rate, never raises it; nonsense is ignored."""
    lim = Limiter(policy(rate=0.5), release=None, cohort=None)
    lim.set_remote_sample_rate(remote)
    assert expected == lim.sample_rate


def test_remote_rate_zero_stops_sending() -> None:
    """A remote rate of 0 samples every crash out."""
    lim = limiter(policy(), Clock())
    lim.set_remote_sample_rate(0.0)
    assert ["sampled_out"] * 3 == [lim.decide(fp(i)) for i in range(3)]
