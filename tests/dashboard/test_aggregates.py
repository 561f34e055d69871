"""k-anonymity, the differentially private release, and the privacy budget ledger."""

from __future__ import annotations

import math
import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from scipy import stats

from crashveil.errors import BudgetExceededError
from crashveil.server.db.dashboard_tables import dp_budget_ledger, dp_releases
from crashveil.server.db.engine import write_tx
from crashveil.server.insights import aggregates
from crashveil.server.insights.aggregates import (
    bound_contributions,
    k_visible,
    noise_parameters,
    privacy_loss,
    publish_day,
    release_counts,
    spend_budget,
)

from .conftest import NOW


def test_k_visible_hides_counts_below_k() -> None:
    """A number of installations below k is hidden and one at k is shown."""
    assert (None, 5, 9) == (k_visible(4, 5), k_visible(5, 5), k_visible(9, 5))


def test_noise_parameters_match_opendp_privacy_map() -> None:
    """Each table gets half the day's epsilon and delta, as OpenDP's own privacy map computes it."""
    params = noise_parameters(1.0, 5)
    epsilon, delta = privacy_loss(params)
    assert (0.5, 2.0, True, True) == (
        params.epsilon,
        params.scale,
        epsilon <= 0.5,
        delta <= aggregates.DELTA_PER_DAY / 2,
    )


def test_threshold_is_never_below_k() -> None:
    """The publication threshold is at least min_k even when delta alone would allow less."""
    assert 500 == noise_parameters(1.0, 500).threshold


def test_noise_follows_the_discrete_laplace_distribution() -> None:
    """20,000 noisy counts fit the discrete Laplace pmf with the configured scale (chi-square)."""
    params = noise_parameters(1.0, 5)
    true = 1000
    released = release_counts({f"k{i}": true for i in range(20_000)}, params)
    noise = Counter(value - true for value in released.values())
    q = math.exp(-1 / params.scale)
    pmf = lambda x: (1 - q) / (1 + q) * q ** abs(x)  # noqa: E731
    bins = list(range(-8, 9))
    observed = [noise[x] for x in bins] + [sum(n for x, n in noise.items() if abs(x) > 8)]
    expected = [20_000 * pmf(x) for x in bins]
    expected.append(20_000 - sum(expected))
    p_value = stats.chisquare(observed, expected).pvalue
    mean = sum(x * n for x, n in noise.items()) / 20_000
    assert (True, True) == (p_value > 1e-4, abs(mean) < 0.1)


def test_rare_keys_are_not_published() -> None:
    """A key counted by a single installation never appears in 2,000 releases."""
    params = noise_parameters(1.0, 5)
    released = release_counts({f"rare{i}": 1 for i in range(2_000)}, params)
    assert {} == released


def test_each_installation_counts_once_per_table() -> None:
    """An installation's later reports and reports without a pseudonym add nothing."""
    rows = [("a", "g1"), ("a", "g1"), ("a", "g2"), ("b", "g2"), (None, "g2"), ("", "g3")]
    assert {"g1": 1, "g2": 1} == bound_contributions(rows)


def test_release_is_stored_and_served_again(engine, seed) -> None:
    """Asking twice for one day returns the stored numbers, not fresh noise."""
    seed.project("p1", public=True)
    gid = seed.group("p1", "a" * 16)
    day = NOW - timedelta(days=1)
    seed.reports("p1", gid, when=day, count=200)
    first = publish_day(engine, "p1", day.date().isoformat(), epsilon_per_day=1.0, min_k=5, now=NOW)
    second = publish_day(engine, "p1", day.date().isoformat(), epsilon_per_day=1.0, min_k=5, now=NOW)
    with engine.connect() as conn:
        spends = conn.execute(sa.select(sa.func.count()).select_from(dp_budget_ledger)).scalar()
    assert (first, 1, True) == (second, spends, abs(first.groups[gid] - 200) < 40)


def test_the_current_day_is_not_published(engine, seed) -> None:
    """A day that has not ended is refused, because its numbers would still change."""
    seed.project("p1", public=True)
    with pytest.raises(ValueError):
        publish_day(engine, "p1", NOW.date().isoformat(), epsilon_per_day=1.0, min_k=5, now=NOW)


def test_budget_cannot_be_spent_twice(engine, seed) -> None:
    """A second public-summary spend for the same day is refused by the ledger."""
    seed.project("p1")
    with write_tx(engine) as conn:
        spend_budget(conn, "p1", "2026-05-01", epsilon=0.25, delta=0.0, limit_epsilon=1.0, now=NOW)
    with pytest.raises(BudgetExceededError), write_tx(engine) as conn:
        spend_budget(conn, "p1", "2026-05-01", epsilon=0.25, delta=0.0, limit_epsilon=1.0, now=NOW)


def test_budget_cannot_exceed_the_daily_epsilon(engine, seed) -> None:
    """Spends of other purposes that would take the day past its epsilon are refused."""
    seed.project("p1")
    with write_tx(engine) as conn:
        spend_budget(conn, "p1", "2026-05-01", epsilon=0.75, delta=0.0, limit_epsilon=1.0, now=NOW, purpose="a")
    with pytest.raises(BudgetExceededError), write_tx(engine) as conn:
        spend_budget(conn, "p1", "2026-05-01", epsilon=0.5, delta=0.0, limit_epsilon=1.0, now=NOW, purpose="b")
    with engine.connect() as conn:
        total = aggregates.budget_spent(conn, "p1", "2026-05-01")
    assert (0.75, 0.0) == total


def test_a_used_budget_blocks_publication(engine, seed) -> None:
    """If the day's budget is gone and no release is stored, publication is refused and nothing is stored."""
    seed.project("p1", public=True)
    with write_tx(engine) as conn:
        spend_budget(conn, "p1", "2026-05-01", epsilon=1.0, delta=0.0, limit_epsilon=1.0, now=NOW, purpose="other")
    with pytest.raises(BudgetExceededError):
        publish_day(engine, "p1", "2026-05-01", epsilon_per_day=1.0, min_k=5, now=NOW)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(dp_releases)).scalar()
    assert 0 == stored


def test_concurrent_publishers_spend_once(engine, seed) -> None:
    """Eight threads publishing the same day leave one ledger entry and see one release."""
    seed.project("p1", public=True)
    gid = seed.group("p1", "b" * 16)
    seed.reports("p1", gid, when=NOW - timedelta(days=2), count=100)
    period = (NOW - timedelta(days=2)).date().isoformat()
    results, errors = [], []

    def publish() -> None:
        try:
            results.append(publish_day(engine, "p1", period, epsilon_per_day=1.0, min_k=5, now=NOW))
        except BudgetExceededError as exc:  # pragma: no cover - would be the failure
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        spends = conn.execute(sa.select(sa.func.count()).select_from(dp_budget_ledger)).scalar()
    assert (1, [], 1) == (spends, errors, len({r.groups[gid] for r in results}))
