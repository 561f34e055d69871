"""The public summary's [aggregation] settings: new keys, and old policies with dp_epsilon_per_day."""

from __future__ import annotations

import tomllib

import pytest

from crashveil.errors import PolicyError
from crashveil.policy.digest import canonical_policy
from crashveil.policy.loader import default_policy_path, parse_policy


def _data() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(default_policy_path().read_text(encoding="utf-8"))


def test_default_policy_publishes_weekly_within_ten_per_year() -> None:
    """The shipped policy: weekly windows, epsilon 10 and delta 1e-6 per installation and year."""
    aggregation = parse_policy(_data()).aggregation
    assert (7, 10.0, 1e-6, None) == (aggregation.publication_window_days, aggregation.yearly_epsilon,
                                     aggregation.yearly_delta, aggregation.dp_epsilon_per_day)


@pytest.mark.parametrize(("per_day", "per_year"), [(1.0, 10.0), (0.01, 3.65)])
def test_a_policy_with_only_dp_epsilon_per_day_loads_and_keeps_its_digest(per_day: float, per_year: float) -> None:
    """An old [aggregation] (dp_epsilon_per_day, no new keys) loads with the yearly bound
    min(365 x per day, 10), weekly windows, and a canonical form without the new keys."""
    data = _data()
    data["aggregation"] = {"min_k": 5, "dp_epsilon_per_day": per_day, "rollup_retention_days": 365}
    policy = parse_policy(data)
    assert (per_year, 7, {"min_k": 5, "dp_epsilon_per_day": per_day, "rollup_retention_days": 365}) == (
        pytest.approx(policy.aggregation.yearly_epsilon), policy.aggregation.publication_window_days,
        canonical_policy(policy)["aggregation"])


def test_a_policy_without_any_epsilon_is_refused() -> None:
    """Without dp_epsilon_per_year (or the old per-day key) the policy names the missing key."""
    data = _data()
    del data["aggregation"]["dp_epsilon_per_year"]
    with pytest.raises(PolicyError, match="aggregation.dp_epsilon_per_year"):
        parse_policy(data)
