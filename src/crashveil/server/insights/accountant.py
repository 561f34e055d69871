"""The privacy accountant of the public summary: zCDP per window, (epsilon, delta) per year.

The unit of privacy is one installation. The public summary is released once per window
(``aggregation.window_days``, a week by default) with Gaussian noise, which composes
tightly under zero-concentrated differential privacy (zCDP, Bun & Steinke 2016): the
releases of several windows together are rho-zCDP with rho the sum of theirs. The policy
states the bound as an (epsilon, delta) pair per installation and year
(``aggregation.dp_epsilon_per_year``, ``aggregation.dp_delta``); the accountant turns it
into a yearly rho with OpenDP's conversion (``make_zCDP_to_approxDP``, the tight one of
Canonne, Kamath & Steinke 2020) and gives each window an equal share.

How the yearly delta is split: half is the conversion's delta; the other half is spread
over the windows of a year as the thresholds' delta (the chance that a key only a few
installations share is published at all; see ``windows.py``).

"A year": any 365 days of an installation's life. Windows lie on a fixed grid, so at most
:func:`windows_per_year` windows (53 for weeks, 365 for days) overlap any 365 days; each
gets ``rho_year / windows_per_year``, so publishing every window never runs out. The ledger
(``dp_budget_ledger``, one row per project, window and purpose) still checks every spend:
a spend that would take the windows overlapping some 365 days past the yearly rho or
delta is refused (:class:`BudgetExhaustedError`), e.g. a second purpose spending in the
same window. Rows written before windows existed (per-day Laplace releases, ``rho``
NULL) count as ``epsilon**2 / 2`` (pure epsilon-DP implies that zCDP) and their delta.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.errors import BudgetExhaustedError
from crashveil.server.db.dashboard_tables import dp_budget_ledger

__all__ = [
    "YEAR_DAYS",
    "YearlyBudget",
    "LedgerSpend",
    "windows_per_year",
    "epsilon_of_rho",
    "rho_of_epsilon",
    "yearly_budget",
    "spends_near",
    "spend_window",
    "first_open_window",
]

#: The accounting period: the loss over any this many days of an installation's life is bounded.
YEAR_DAYS = 365
_TOLERANCE = 1e-9  # relative, for float sums of equal shares


def windows_per_year(window_days: int) -> int:
    """How many windows of the grid can overlap one span of :data:`YEAR_DAYS` days."""
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    return math.ceil((YEAR_DAYS + window_days - 1) / window_days)


def epsilon_of_rho(rho: float, delta: float) -> float:
    """The epsilon of a rho-zCDP mechanism at ``delta``, as OpenDP converts it."""
    if rho <= 0:
        return 0.0
    import opendp.prelude as dp

    dp.enable_features("contrib")
    # A Gaussian on sensitivity 1 with this scale is exactly rho-zCDP; OpenDP converts its curve.
    gaussian = dp.m.make_gaussian(dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float),
                                  scale=1.0 / math.sqrt(2.0 * rho))
    fixed = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), delta)
    epsilon, _ = fixed.map(1.0)
    return float(epsilon)


@lru_cache(maxsize=64)
def rho_of_epsilon(epsilon: float, delta: float) -> float:
    """The largest rho whose conversion at ``delta`` stays within ``epsilon`` (bisection)."""
    if not epsilon > 0 or not 0 < delta < 1:
        raise ValueError("epsilon must be positive and delta in (0, 1)")
    low, high = 0.0, epsilon
    while epsilon_of_rho(high, delta) <= epsilon:  # pragma: no cover - rho < epsilon always here
        high *= 2
    while high - low > 1e-12 * high:
        middle = (low + high) / 2
        if epsilon_of_rho(middle, delta) <= epsilon:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class YearlyBudget:
    """The yearly bound and each window's share of it."""

    epsilon: float  # per installation and year, as the policy states it
    delta: float  # per installation and year
    window_days: int
    windows: int  # windows_per_year(window_days)
    rho: float  # the yearly rho (converted at delta / 2)
    rho_per_window: float
    threshold_delta_per_window: float  # for all tables of one window together

    @property
    def conversion_delta(self) -> float:
        return self.delta / 2


@lru_cache(maxsize=64)
def yearly_budget(epsilon_per_year: float, delta: float, window_days: int) -> YearlyBudget:
    """The budget of a policy's ``[aggregation]`` settings."""
    windows = windows_per_year(window_days)
    rho = rho_of_epsilon(float(epsilon_per_year), delta / 2)
    return YearlyBudget(epsilon=float(epsilon_per_year), delta=float(delta), window_days=int(window_days),
                        windows=windows, rho=rho, rho_per_window=rho / windows,
                        threshold_delta_per_window=delta / 2 / windows)


@dataclass(frozen=True)
class LedgerSpend:
    """One row of the ledger as the accountant sees it."""

    start: date
    rho: float
    delta: float


def _start_of(period: str) -> date:
    return date.fromisoformat(period[:10])


def spends_near(conn: Connection, project_id: str, start: date) -> list[LedgerSpend]:
    """Every spend of ``project_id`` whose window starts within two years around ``start``."""
    low = (start - timedelta(days=2 * YEAR_DAYS)).isoformat()
    high = (start + timedelta(days=2 * YEAR_DAYS)).isoformat()
    rows = conn.execute(
        sa.select(dp_budget_ledger.c.period, dp_budget_ledger.c.epsilon, dp_budget_ledger.c.delta,
                  dp_budget_ledger.c.rho)
        .where(dp_budget_ledger.c.project_id == project_id, dp_budget_ledger.c.period >= low,
               dp_budget_ledger.c.period < high))
    return [LedgerSpend(start=_start_of(row.period),
                        rho=float(row.rho) if row.rho is not None else float(row.epsilon) ** 2 / 2,
                        delta=float(row.delta)) for row in rows]


def _worst_year(spends: Sequence[LedgerSpend], budget: YearlyBudget) -> tuple[float, float]:
    """The largest (rho, threshold delta) of the windows that overlap one span of a year.

    Two windows overlap a common span of :data:`YEAR_DAYS` days when their starts are less
    than ``YEAR_DAYS + window_days - 1`` days apart.
    """
    reach = YEAR_DAYS + budget.window_days - 1
    ordered = sorted(spends, key=lambda s: s.start)
    worst_rho = worst_delta = 0.0
    first = 0
    rho = delta = 0.0
    for spend in ordered:
        rho += spend.rho
        delta += spend.delta
        while (spend.start - ordered[first].start).days >= reach:
            rho -= ordered[first].rho
            delta -= ordered[first].delta
            first += 1
        worst_rho, worst_delta = max(worst_rho, rho), max(worst_delta, delta)
    return worst_rho, worst_delta


def _fits(spends: Sequence[LedgerSpend], budget: YearlyBudget) -> bool:
    rho, delta = _worst_year(spends, budget)
    return (rho <= budget.rho * (1 + _TOLERANCE)
            and delta <= budget.threshold_delta_per_window * budget.windows * (1 + _TOLERANCE))


def first_open_window(spends: Sequence[LedgerSpend], start: date, rho: float, delta: float,
                      budget: YearlyBudget) -> date:
    """The first window start after ``start`` at which a spend of (rho, delta) fits again."""
    candidate = start
    for _ in range(budget.windows * 3):
        candidate += timedelta(days=budget.window_days)
        if _fits([*spends, LedgerSpend(candidate, rho, delta)], budget):
            return candidate
    return candidate  # pragma: no cover - spends older than two years never block


def spend_window(conn: Connection, project_id: str, period: str, *, rho: float, delta: float, epsilon: float,
                 budget: YearlyBudget, now: datetime, purpose: str) -> None:
    """Record a window's spend inside the caller's write transaction, or refuse it.

    ``epsilon`` is the window's own epsilon (for people reading the ledger); the check uses
    ``rho`` and ``delta``.

    Raises:
        BudgetExhaustedError: the spend would take some year over the bound, or this
            purpose has already spent in this window; ``until`` is the next window that fits.
    """
    start = _start_of(period)
    spends = spends_near(conn, project_id, start)
    if not _fits([*spends, LedgerSpend(start, rho, delta)], budget):
        until = first_open_window(spends, start, rho, delta, budget)
        raise BudgetExhaustedError(
            f"privacy budget of {project_id}: the window {period} would take the loss per installation over "
            f"epsilon = {budget.epsilon:g} per year; budget exhausted until {until.isoformat()}", until)
    try:
        with conn.begin_nested():
            conn.execute(dp_budget_ledger.insert().values(
                project_id=project_id, period=period, purpose=purpose, epsilon=epsilon, delta=delta, rho=rho,
                spent_at=now))
    except sa.exc.IntegrityError as exc:
        until = start + timedelta(days=budget.window_days)
        raise BudgetExhaustedError(f"privacy budget of {project_id} for {period}: {purpose} already spent",
                                   until) from exc
