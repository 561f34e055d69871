"""The audit report's section on the public summary: accountant, window, bound and ledger.

Data for one project (:func:`public_summary_section`) and its format-neutral blocks
(:func:`public_summary_blocks`, the ``("h" | "p" | "table", ...)`` tuples the audit report
renders). Only dates, purposes and privacy parameters: no counts of any crash.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.policy.model import Policy
from crashveil.server.db.dashboard_tables import dp_budget_ledger
from crashveil.server.insights.accountant import YEAR_DAYS, epsilon_of_rho, first_open_window, spends_near
from crashveil.server.insights.window_releases import budget_of
from crashveil.server.insights.windows import window_noise, window_start

__all__ = ["public_summary_section", "public_summary_blocks"]


def public_summary_section(conn: Connection, project_id: str, policy: Policy, *, since: datetime,
                           until: datetime) -> dict[str, Any]:
    """The accountant's statement and the ledger of ``project_id`` for ``[since, until)``."""
    budget = budget_of(policy.aggregation)
    today = until.date()
    spends = spends_near(conn, project_id, today)
    year = [s for s in spends if today - timedelta(days=YEAR_DAYS) < s.start <= today]
    rho_year = sum(s.rho for s in year)
    noise = window_noise(budget.rho_per_window, budget.threshold_delta_per_window, policy.aggregation.min_k)
    next_start = window_start(today, budget.window_days)
    fits_from = first_open_window(spends, next_start - timedelta(days=budget.window_days), noise.rho, noise.delta,
                                  budget)
    rows = conn.execute(
        sa.select(dp_budget_ledger).where(dp_budget_ledger.c.project_id == project_id,
                                          dp_budget_ledger.c.spent_at >= since, dp_budget_ledger.c.spent_at < until)
        .order_by(dp_budget_ledger.c.period)).all()
    return {
        "accountant": "zCDP (Gaussian noise; rho adds up over windows; converted with OpenDP's make_zCDP_to_approxDP)",
        "window_days": budget.window_days, "windows_per_year": budget.windows, "min_k": policy.aggregation.min_k,
        "epsilon_per_year": budget.epsilon, "delta_per_year": budget.delta, "rho_per_year": budget.rho,
        "rho_per_window": budget.rho_per_window, "threshold": noise.groups.threshold,
        "rho_last_365_days": rho_year,
        "epsilon_last_365_days": epsilon_of_rho(rho_year, budget.conversion_delta),
        "exhausted_until": None if fits_from <= next_start else fits_from.isoformat(),
        "ledger": [{"period": r.period, "purpose": r.purpose, "rho": r.rho, "epsilon": r.epsilon, "delta": r.delta,
                    "spent_at": r.spent_at.isoformat()} for r in rows],
    }


def public_summary_blocks(section: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``section`` as the audit report's blocks."""
    state = (f"budget exhausted until {section['exhausted_until']}" if section["exhausted_until"]
             else "the next window fits the bound")
    return [
        ("h", 3, "Public summary: privacy accountant"),
        ("p", (f"Accountant: {section['accountant']}. Windows of {section['window_days']} day(s), at most "
               f"{section['windows_per_year']} per 365 days; each installation counts at most once per crash group "
               f"in a window; counts below {section['threshold']} (never below k = {section['min_k']}) are not "
               f"published. Bound per installation over any 365 days: epsilon = {section['epsilon_per_year']:g}, "
               f"delta = {section['delta_per_year']:g} (rho = {section['rho_per_year']:.4f}, "
               f"{section['rho_per_window']:.5f} per window). Spent in the last 365 days: rho = "
               f"{section['rho_last_365_days']:.4f}, epsilon = {section['epsilon_last_365_days']:.3f}; {state}.",)),
        ("table", ["window", "purpose", "rho", "epsilon", "delta", "spent at"],
         [[r["period"], r["purpose"], "-" if r["rho"] is None else f"{r['rho']:.5f}", f"{r['epsilon']:.4f}",
           f"{r['delta']:.2g}", r["spent_at"]] for r in section["ledger"]]) if section["ledger"]
        else ("p", ("No public-summary releases in the period.",)),
    ]
