"""Stored public-summary releases over windows: publish once, serve as stored, spend in the ledger.

:func:`publish_window` releases one finished window (``windows.py`` for the mechanism) and
records its spend (``accountant.spend_window``) in the same transaction, so a release exists
if and only if its spend is in the ledger. :func:`public_windows` is what the public page
shows: the last few windows, each either a release or the refusal that kept it unpublished
("budget exhausted until DATE"). A refusal is logged (project and window only) and not
stored: nothing is published for that window.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import BudgetExhaustedError
from crashveil.policy.model import AggregationSettings
from crashveil.server.db.dashboard_tables import dp_releases
from crashveil.server.db.engine import write_tx
from crashveil.server.db.tables import reports
from crashveil.server.insights.accountant import YearlyBudget, epsilon_of_rho, spend_window, yearly_budget
from crashveil.server.insights.windows import (
    WindowNoise,
    bound_window,
    period_key,
    platform_key,
    release_table,
    window_noise,
    window_start,
)

__all__ = ["PUBLIC_PURPOSE", "WindowRelease", "WindowState", "budget_of", "publish_window", "public_summary_json",
           "public_windows"]

#: The ledger purpose of the public summary; one spend per project and window.
PUBLIC_PURPOSE = "public-summary"
_log = logging.getLogger("crashveil.public_summary")


@dataclass(frozen=True)
class WindowRelease:
    """One window's stored public numbers."""

    period: str
    start: date
    window_days: int
    published_at: datetime
    rho: float
    epsilon: float  # this window alone, at the yearly conversion delta
    delta: float
    threshold: int  # of the groups table
    min_k: int
    groups: dict[int, int]  # group id -> noisy installations that crashed in it
    platforms: dict[tuple[str, str], int]  # (release, OS family) -> noisy installations

    @property
    def end(self) -> date:
        """The window's last day."""
        return self.start + timedelta(days=self.window_days - 1)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form: no pseudonyms, no content, only noisy counts at or above k."""
        return {
            "window": self.period, "first_day": self.start.isoformat(), "last_day": self.end.isoformat(),
            "rho": self.rho, "epsilon": self.epsilon, "delta": self.delta, "threshold": self.threshold,
            "min_k": self.min_k,
            "groups": [{"group": gid, "installations": n} for gid, n in sorted(self.groups.items())],
            "platforms": [{"release": r, "os_family": o, "installations": n}
                          for (r, o), n in sorted(self.platforms.items())],
        }


@dataclass(frozen=True)
class WindowState:
    """A window on the public page: its release, or the date the budget opens again."""

    start: date
    window_days: int
    release: WindowRelease | None
    exhausted_until: date | None = None

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.window_days - 1)

    @property
    def period(self) -> str:
        return period_key(self.start, self.window_days)


def budget_of(aggregation: AggregationSettings) -> YearlyBudget:
    """The yearly budget a policy's ``[aggregation]`` sets."""
    return yearly_budget(aggregation.yearly_epsilon, aggregation.yearly_delta, aggregation.publication_window_days)


def _from_row(row: Any, conversion_delta: float) -> WindowRelease:
    payload = json.loads(row.payload)
    window_days = int(row.window_days or 1)
    rho = float(row.rho) if row.rho is not None else float(row.epsilon) ** 2 / 2
    return WindowRelease(
        period=row.period, start=date.fromisoformat(row.period[:10]), window_days=window_days,
        published_at=row.published_at, rho=rho,
        epsilon=epsilon_of_rho(rho, conversion_delta) if row.rho is not None else float(row.epsilon),
        delta=row.delta, threshold=row.threshold, min_k=row.min_k,
        groups={int(g): int(n) for g, n in payload["groups"]},
        platforms={(str(r), str(o)): int(n) for r, o, n in payload["platforms"]})


def _stored(conn: Connection, project_id: str, period: str, conversion_delta: float) -> WindowRelease | None:
    row = conn.execute(sa.select(dp_releases).where(
        dp_releases.c.project_id == project_id, dp_releases.c.period == period)).first()
    return None if row is None else _from_row(row, conversion_delta)


def _window_rows(conn: Connection, project_id: str, start: date, window_days: int) -> list[Any]:
    last = start + timedelta(days=window_days - 1)
    return list(conn.execute(
        sa.select(reports.c.install_id, reports.c.group_id, reports.c.release, reports.c.os_family)
        .where(reports.c.project_id == project_id, reports.c.day >= start.isoformat(),
               reports.c.day <= last.isoformat())
        .order_by(reports.c.id)))


def _release(conn: Connection, project_id: str, start: date, noise: WindowNoise, window_days: int
             ) -> dict[str, Any]:
    rows = _window_rows(conn, project_id, start, window_days)
    groups, platforms = bound_window(
        (r.install_id, str(r.group_id), platform_key(r.release, r.os_family)) for r in rows)
    released_groups = release_table(groups, noise.groups)
    released_platforms = release_table(platforms, noise.platforms)
    return {"groups": sorted([int(g), n] for g, n in released_groups.items()),
            "platforms": sorted([*json.loads(key), n] for key, n in released_platforms.items()),
            "platform_threshold": noise.platforms.threshold}


def publish_window(engine: Engine, project_id: str, start: date, aggregation: AggregationSettings, *,
                   now: datetime | None = None) -> WindowRelease:
    """The release of the window starting ``start``: the stored one, else a new one.

    Raises:
        ValueError: ``start`` is not on the window grid, or the window has not ended (UTC).
        BudgetExhaustedError: the window would take the loss per installation over the
            yearly bound; nothing is published.
    """
    now = now or datetime.now(UTC)
    budget = budget_of(aggregation)
    window_days = budget.window_days
    if window_start(start, window_days) != start:
        raise ValueError(f"{start.isoformat()} does not start a {window_days}-day window")
    if start + timedelta(days=window_days) > now.date():
        raise ValueError(f"the window starting {start.isoformat()} has not ended yet (UTC)")
    period = period_key(start, window_days)
    with engine.connect() as conn:
        stored = _stored(conn, project_id, period, budget.conversion_delta)
    if stored is not None:
        return stored
    noise = window_noise(budget.rho_per_window, budget.threshold_delta_per_window, int(aggregation.min_k))
    epsilon = epsilon_of_rho(noise.rho, budget.conversion_delta)
    with write_tx(engine) as conn:
        stored = _stored(conn, project_id, period, budget.conversion_delta)  # a concurrent publisher won
        if stored is not None:
            return stored
        spend_window(conn, project_id, period, rho=noise.rho, delta=noise.delta, epsilon=epsilon, budget=budget,
                     now=now, purpose=PUBLIC_PURPOSE)
        payload = _release(conn, project_id, start, noise, window_days)
        conn.execute(dp_releases.insert().values(
            project_id=project_id, period=period, published_at=now, epsilon=epsilon, delta=noise.delta,
            scale=noise.groups.scale, threshold=noise.groups.threshold, min_k=int(aggregation.min_k),
            payload=json.dumps(payload), window_days=window_days, rho=noise.rho))
    with engine.connect() as conn:
        result = _stored(conn, project_id, period, budget.conversion_delta)
    assert result is not None
    return result


def public_windows(engine: Engine, project_id: str, aggregation: AggregationSettings, *, count: int,
                   now: datetime | None = None) -> list[WindowState]:
    """The last ``count`` finished windows, oldest first, publishing missing ones."""
    now = now or datetime.now(UTC)
    window_days = aggregation.publication_window_days
    current = window_start(now.date(), window_days)
    out = []
    for back in range(count, 0, -1):
        start = current - timedelta(days=back * window_days)
        try:
            out.append(WindowState(start, window_days, publish_window(engine, project_id, start, aggregation,
                                                                      now=now)))
        except BudgetExhaustedError as refused:
            _log.warning("public summary of %s: window %s not published, budget exhausted until %s",
                         project_id, start.isoformat(), refused.until.isoformat())
            out.append(WindowState(start, window_days, None, exhausted_until=refused.until))
    return out


def public_summary_json(project_id: str, aggregation: AggregationSettings,
                        windows: list[WindowState]) -> dict[str, Any]:
    """The public summary as JSON (the public page's ``summary.json`` and the API's
    ``public-summary``): the accountant and its bounds, then each window, published or not."""
    budget = budget_of(aggregation)
    return {
        "project": project_id, "unit": f"installations that crashed per window of {budget.window_days} UTC "
        "day(s), noised", "explanation": "/public/about",
        "budget": {"accountant": "zCDP", "window_days": budget.window_days, "epsilon_per_year": budget.epsilon,
                   "delta_per_year": budget.delta, "rho_per_year": budget.rho,
                   "rho_per_window": budget.rho_per_window},
        "windows": [w.release.to_json() if w.release is not None else
                    {"window": w.period, "published": False,
                     "budget_exhausted_until": w.exhausted_until.isoformat() if w.exhausted_until else None}
                    for w in windows]}
