"""The public summary over windows: the zCDP accountant, thresholds, bounded contributions, the page."""

from __future__ import annotations

import math
import warnings
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from scipy import optimize, stats

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.errors import BudgetExhaustedError
from crashveil.policy.loader import default_policy
from crashveil.server.db.dashboard_tables import dp_budget_ledger
from crashveil.server.db.engine import create_engine, write_tx
from crashveil.server.insights.accountant import epsilon_of_rho, rho_of_epsilon, spend_window, yearly_budget
from crashveil.server.insights.public_summary_report import public_summary_blocks, public_summary_section
from crashveil.server.insights.window_releases import budget_of, publish_window
from crashveil.server.insights.windows import bound_window, period_key, release_table, window_noise, window_start

from .conftest import NOW, Seeder
from .test_unavailable import pg_template, pg_url, postgresql_proc  # noqa: F401 - fixtures

AGGREGATION = default_policy().aggregation  # weekly, epsilon 10 per year, delta 1e-6
LAST_WEEK = window_start(NOW.date(), 7) - timedelta(days=7)


def _exact_gaussian_epsilon(rho: float, delta: float) -> float:
    """The exact epsilon of the Gaussian mechanism (Balle & Wang 2018) with this rho, at delta."""
    sigma = 1 / math.sqrt(2 * rho)

    def delta_of(eps: float) -> float:
        return float(stats.norm.cdf(1 / (2 * sigma) - eps * sigma)
                     - math.exp(eps) * stats.norm.cdf(-1 / (2 * sigma) - eps * sigma))

    return float(optimize.brentq(lambda eps: delta_of(eps) - delta, 0.0, 100.0))


def test_zcdp_conversion_against_known_values() -> None:
    """OpenDP's conversion lies between the exact Gaussian curve and Bun & Steinke's bound
    (rho + 2 sqrt(rho ln 1/delta)): 7.77 for rho = 1, delta = 1e-6; rho_of_epsilon inverts it."""
    converted = epsilon_of_rho(1.0, 1e-6)
    exact = _exact_gaussian_epsilon(1.0, 1e-6)
    bun_steinke = 1.0 + 2 * math.sqrt(math.log(1e6))
    rho = rho_of_epsilon(10.0, 5e-7)
    assert (True, 7.77, True) == (exact <= converted <= bun_steinke, round(converted, 2),
                                  abs(epsilon_of_rho(rho, 5e-7) - 10.0) < 1e-6)


def test_a_year_of_weekly_windows_stays_within_the_bound_and_one_more_spend_is_refused(engine, seed) -> None:
    """52 weekly windows (and the 53rd a 365-day span can touch) fit within epsilon = 10 per year;
    one more window's spend in that year is refused with the date the budget opens again."""
    seed.project("p1")
    budget = yearly_budget(10.0, 1e-6, 7)
    first = window_start(date(2025, 1, 6), 7)
    starts = [first + timedelta(weeks=n) for n in range(budget.windows)]
    per_delta = budget.threshold_delta_per_window
    with write_tx(engine) as conn:
        for start in starts:
            spend_window(conn, "p1", period_key(start, 7), rho=budget.rho_per_window, delta=per_delta, epsilon=0.0,
                         budget=budget, now=NOW, purpose="public-summary")
    epsilon_52 = epsilon_of_rho(52 * budget.rho_per_window, budget.conversion_delta)
    epsilon_all = epsilon_of_rho(budget.windows * budget.rho_per_window, budget.conversion_delta)
    with pytest.raises(BudgetExhaustedError) as refused, write_tx(engine) as conn:
        spend_window(conn, "p1", period_key(starts[-1], 7), rho=budget.rho_per_window, delta=per_delta, epsilon=0.0,
                     budget=budget, now=NOW, purpose="other")
    with engine.connect() as conn:
        spends = conn.execute(sa.select(sa.func.count()).select_from(dp_budget_ledger)).scalar()
    assert (53, True, True, 53, starts[-1] + timedelta(weeks=1)) == (
        budget.windows, epsilon_52 <= 10.0, epsilon_all <= 10.0 + 1e-6, spends, refused.value.until)
    assert f"budget exhausted until {starts[-1] + timedelta(weeks=1)}" in str(refused.value)


def test_each_installation_counts_once_per_group_and_in_few_groups() -> None:
    """A crash loop counts once; an installation counts in at most 4 groups and once by platform;
    rows without a pseudonym add nothing."""
    rows = [("a", "g1", "p1")] * 50 + [("a", f"g{n}", "p2") for n in range(2, 8)] + [(None, "g1", "p1"),
                                                                                    ("b", "g1", "p2")]
    groups, platforms = bound_window(rows)
    assert ({"g1": 2, "g2": 1, "g3": 1, "g4": 1}, {"p1": 1, "p2": 1}) == (groups, platforms)


def test_thresholds_keep_k_anonymity() -> None:
    """No table's threshold is below min_k, even with a budget that alone would allow less."""
    generous = yearly_budget(50.0, 1e-3, 7)
    noise = window_noise(generous.rho_per_window, generous.threshold_delta_per_window, 40)
    default = budget_of(AGGREGATION)
    usual = window_noise(default.rho_per_window, default.threshold_delta_per_window, AGGREGATION.min_k)
    assert (40, 40, True) == (noise.groups.threshold, noise.platforms.threshold,
                              min(usual.groups.threshold, usual.platforms.threshold) >= AGGREGATION.min_k)


def test_planted_single_installation_keys_are_never_published() -> None:
    """2,000 keys seen by one installation each: none appears in a release."""
    budget = budget_of(AGGREGATION)
    noise = window_noise(budget.rho_per_window, budget.threshold_delta_per_window, AGGREGATION.min_k)
    assert ({}, {}) == (release_table({f"planted{i}": 1 for i in range(2_000)}, noise.groups),
                        release_table({f"planted{i}": 1 for i in range(2_000)}, noise.platforms))


def test_a_window_below_the_threshold_publishes_nothing(engine, seed) -> None:
    """A group of 20 installations (below the threshold) and one installation's crash loop are
    left out of the window's release; a group of 300 installations is in it; the spend is recorded."""
    seed.project("p1", public=True)
    small, loop, big = seed.group("p1", "a" * 16), seed.group("p1", "b" * 16), seed.group("p1", "c" * 16)
    when = datetime.combine(LAST_WEEK + timedelta(days=2), datetime.min.time(), tzinfo=NOW.tzinfo)
    seed.reports("p1", small, when=when, count=20)
    seed.reports("p1", loop, when=when, count=200, installs=["planted-install"])
    seed.reports("p1", big, when=when, count=300)
    release = publish_window(engine, "p1", LAST_WEEK, AGGREGATION, now=NOW)
    again = publish_window(engine, "p1", LAST_WEEK, AGGREGATION, now=NOW)
    with engine.connect() as conn:
        spends = conn.execute(sa.select(sa.func.count()).select_from(dp_budget_ledger)).scalar()
    assert ([big], True, release, 1) == (list(release.groups), abs(release.groups[big] - 300) < 60, again, spends)


def test_the_current_window_is_not_published(engine, seed) -> None:
    """A window that has not ended is refused: its numbers would still change."""
    seed.project("p1", public=True)
    with pytest.raises(ValueError):
        publish_window(engine, "p1", window_start(NOW.date(), 7), AGGREGATION, now=NOW)


def test_audit_report_section_states_the_accountant(engine, seed) -> None:
    """The audit report's section names the accountant, window and bound and lists the ledger."""
    seed.project("p1", public=True)
    publish_window(engine, "p1", LAST_WEEK, AGGREGATION, now=NOW)
    with engine.connect() as conn:
        section = public_summary_section(conn, "p1", default_policy(), since=NOW - timedelta(days=30),
                                         until=NOW + timedelta(hours=1))
    text = str(public_summary_blocks(section))
    assert (1, None, True, True) == (len(section["ledger"]), section["exhausted_until"], "zCDP" in text,
                                     "epsilon = 10" in text)


def test_page_shows_windows_and_budget_state(dash) -> None:
    """The page lists weekly windows and says the budget is within bound; once another purpose
    has spent the year, the next window is not published and the page says until when."""
    client = TestClient(dash.app)
    before = client.get("/public/demo").text
    budget = budget_of(AGGREGATION)
    this_week = window_start(dash.clock[0].date(), 7)
    with write_tx(dash.storage.engine) as conn:
        conn.execute(dp_budget_ledger.insert().values(
            project_id="demo", period=period_key(this_week, 7), purpose="other", epsilon=10.0, delta=0.0,
            rho=budget.rho, spent_at=dash.clock[0]))
    dash.clock[0] += timedelta(days=7)
    after = client.get("/public/demo").text
    summary = client.get("/public/demo/summary.json").json()
    last_day = this_week + timedelta(days=6)
    assert (True, True, True) == (f"{LAST_WEEK} – {LAST_WEEK + timedelta(days=6)}" in before,
                                  "within the yearly bound" in before, "budget exhausted until" in after)
    assert ([False], 8, f"{this_week}/{last_day}") == (
        [w.get("published", True) for w in summary["windows"] if "groups" not in w], len(summary["windows"]),
        summary["windows"][-1]["window"])


@pytest.mark.postgres
def test_windows_and_the_ledger_on_postgresql(pg_url: str) -> None:  # noqa: F811 - fixture
    """On PostgreSQL: a window's release is stored once (its long period key fits) and a spend
    beyond the year is refused."""
    engine = create_engine(pg_url)
    try:
        seed = Seeder(engine)
        seed.project("p1", public=True)
        big = seed.group("p1", "c" * 16)
        seed.reports("p1", big, when=datetime.combine(LAST_WEEK, datetime.min.time(), tzinfo=NOW.tzinfo), count=300)
        release = publish_window(engine, "p1", LAST_WEEK, AGGREGATION, now=NOW)
        budget = budget_of(AGGREGATION)
        with pytest.raises(BudgetExhaustedError), write_tx(engine) as conn:
            spend_window(conn, "p1", period_key(LAST_WEEK, 7), rho=budget.rho, delta=0.0, epsilon=10.0,
                         budget=budget, now=NOW, purpose="other")
        assert (release, [big]) == (publish_window(engine, "p1", LAST_WEEK, AGGREGATION, now=NOW), list(release.groups))
    finally:
        engine.dispose()
