"""Aggregates that leave the trusted circle: k-anonymity and differential privacy.

Two rules:

- **k-anonymity on the dashboard.** A number of affected installations is shown only at or
  above the policy's ``aggregation.min_k`` (:func:`k_visible`); below it the dashboard says
  "fewer than k".
- **Differential privacy for the public summary (per day; superseded).** The public page now
  publishes over windows with a zCDP accountant (``windows.py``, ``window_releases.py``,
  ``accountant.py``); the per-day release below stays for the releases already stored and
  its tests, and its ledger rows count in the accountant as ``epsilon**2 / 2``. Once per
  project and UTC day, after the
  day has ended, one release is computed, stored in ``dp_releases`` and then served as
  stored (:func:`publish_day`). Its spend is written to ``dp_budget_ledger`` in the same
  transaction; a spend that would take the day over ``aggregation.dp_epsilon_per_day`` is
  refused (:class:`BudgetExceededError`), and the ledger's unique key allows one
  public-summary spend per project and day even with concurrent publishers. Asking again
  returns the stored numbers: noise is never redrawn, so it cannot be averaged away.

The mechanism (OpenDP, ``make_laplace_threshold``): discrete Laplace noise on integer counts
in a map whose keys are not known in advance (group ids, release × OS family), and a
threshold below which a key is not published at all (Rogers 2023, "A Unifying Privacy
Analysis Framework for Unknown Domain Algorithms"). Keys are data too: a release string is
chosen by the client, so an unknown key appearing at all must itself be protected; the
threshold does that, at the price of a small delta.

The unit of privacy is one installation per day. Each installation contributes at most
:data:`MAX_CONTRIBUTIONS` (= 1) to each of the two tables of a day: its first report of the
day (``reports.id`` order) counts, later ones do not. So the numbers are "installations that
crashed, by group" and "installations that crashed, by release and OS family"; a crash loop
on one machine counts once. Reports without an install pseudonym cannot be bounded and are
left out. The day's epsilon is split evenly between the two tables (basic composition), so
each table gets ``epsilon/2`` and noise scale ``MAX_CONTRIBUTIONS / (epsilon/2)``.

Suppression below k: the threshold is never below ``min_k``, so no published cell is below
k. We deliberately do *not* also drop cells by their true count before the noise: that
filter is not 1-stable (one installation moves a cell from k-1, dropped, to k, kept) and
would void the guarantee. Instead the threshold is raised until a cell's chance of
appearing on account of a single installation is below :data:`DELTA_PER_DAY`.

Noise comes from OpenDP's own cryptographically secure sampler, on purpose not from an
injectable ``rng``: a seeded generator would make the noise reproducible.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import BudgetExceededError
from crashveil.server.db.dashboard_tables import dp_budget_ledger, dp_releases
from crashveil.server.db.engine import write_tx
from crashveil.server.db.tables import reports

__all__ = [
    "MAX_CONTRIBUTIONS",
    "DELTA_PER_DAY",
    "PUBLIC_PURPOSE",
    "NoiseParameters",
    "PublishedRelease",
    "k_visible",
    "noise_parameters",
    "release_counts",
    "bound_contributions",
    "spend_budget",
    "budget_spent",
    "publish_day",
    "published_release",
    "public_releases",
]

#: Each installation counts at most once per table per day (see the module docstring).
MAX_CONTRIBUTIONS = 1
#: Total delta of one day's release (both tables), the chance that a rare key leaks.
DELTA_PER_DAY = 1e-7
#: The ledger purpose of the public summary; one spend per project and day.
PUBLIC_PURPOSE = "public-summary"
_TABLES = 2


def k_visible(count: int, min_k: int) -> int | None:
    """``count`` if it is at least ``min_k``, else ``None`` (shown as "fewer than k").

    Args:
        count: a number of distinct installations.
        min_k: the policy's ``aggregation.min_k``.
    """
    return count if count >= min_k else None


@dataclass(frozen=True)
class NoiseParameters:
    """How one table of a day's release is noised."""

    epsilon: float  # per table
    delta: float  # per table
    scale: float  # discrete Laplace scale
    threshold: int  # smallest published noisy count, >= min_k


@lru_cache(maxsize=64)
def noise_parameters(epsilon_per_day: float, min_k: int, delta_per_day: float = DELTA_PER_DAY) -> NoiseParameters:
    """Scale and threshold for each of the day's two tables.

    The threshold is the smallest integer at or above ``min_k`` whose privacy map, as
    OpenDP computes it, gives at most ``delta_per_day / 2``.

    Raises:
        ValueError: epsilon is not positive.
    """
    if not epsilon_per_day > 0 or not math.isfinite(epsilon_per_day):
        raise ValueError("dp_epsilon_per_day must be a positive number")
    epsilon = epsilon_per_day / _TABLES
    delta = delta_per_day / _TABLES
    scale = MAX_CONTRIBUTIONS / epsilon
    low = max(int(min_k), 1)
    high = low
    while _delta_of(scale, high) > delta:
        high *= 2
    while low < high:  # smallest threshold with a small enough delta
        middle = (low + high) // 2
        if _delta_of(scale, middle) <= delta:
            high = middle
        else:
            low = middle + 1
    return NoiseParameters(epsilon=epsilon, delta=delta, scale=scale, threshold=high)


def _measurement(scale: float, threshold: int) -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
    return dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)


def _delta_of(scale: float, threshold: int) -> float:
    c = MAX_CONTRIBUTIONS
    return float(_measurement(scale, threshold).map((c, c, c))[1])


def privacy_loss(params: NoiseParameters) -> tuple[float, float]:
    """(epsilon, delta) of one table under ``params``, as OpenDP's privacy map says."""
    c = MAX_CONTRIBUTIONS
    epsilon, delta = _measurement(params.scale, params.threshold).map((c, c, c))
    return float(epsilon), float(delta)


def release_counts(counts: Mapping[str, int], params: NoiseParameters) -> dict[str, int]:
    """Noisy counts of ``counts`` (each key's true count), keys below the threshold left out."""
    if not counts:
        return {}
    measurement = _measurement(params.scale, params.threshold)
    released = measurement({str(key): int(value) for key, value in counts.items()})
    return {str(key): int(value) for key, value in released.items()}


def bound_contributions(rows: Iterable[tuple[str | None, str]]) -> dict[str, int]:
    """Count each installation once, in the key of its first row (rows come in order).

    Args:
        rows: ``(install_id, key)`` in the order reports were received; rows without an
            install pseudonym are left out (their contribution cannot be bounded).
    """
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for install_id, key in rows:
        if not install_id or install_id in seen:
            continue
        seen.add(install_id)
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- the ledger ------------------------------------------------------------------------------


def budget_spent(conn: Connection, project_id: str, period: str) -> tuple[float, float]:
    """(epsilon, delta) already spent for ``project_id`` in ``period``."""
    row = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(dp_budget_ledger.c.epsilon), 0.0),
                  sa.func.coalesce(sa.func.sum(dp_budget_ledger.c.delta), 0.0))
        .where(dp_budget_ledger.c.project_id == project_id, dp_budget_ledger.c.period == period)
    ).one()
    return float(row[0]), float(row[1])


def spend_budget(conn: Connection, project_id: str, period: str, *, epsilon: float, delta: float,
                 limit_epsilon: float, now: datetime, purpose: str = PUBLIC_PURPOSE) -> None:
    """Record a spend, inside the caller's write transaction, or refuse it.

    Raises:
        BudgetExceededError: the period's total would exceed ``limit_epsilon``, or this
            purpose has already spent in this period.
    """
    spent, _ = budget_spent(conn, project_id, period)
    # A relative tolerance for float sums (0.5 + 0.5 must equal 1.0).
    if spent + epsilon > limit_epsilon * (1 + 1e-9):
        raise BudgetExceededError(
            f"privacy budget of {project_id} for {period}: {spent:g} spent, {epsilon:g} asked, "
            f"{limit_epsilon:g} allowed"
        )
    try:
        with conn.begin_nested():
            conn.execute(dp_budget_ledger.insert().values(
                project_id=project_id, period=period, purpose=purpose, epsilon=epsilon, delta=delta, spent_at=now))
    except sa.exc.IntegrityError as exc:
        raise BudgetExceededError(f"privacy budget of {project_id} for {period}: {purpose} already spent") from exc


# --- releases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedRelease:
    """One day's stored public numbers."""

    project_id: str
    period: str
    published_at: datetime
    epsilon: float
    delta: float
    scale: float
    threshold: int
    min_k: int
    groups: dict[int, int]  # group id -> noisy installations that crashed in it
    platforms: dict[tuple[str, str], int]  # (release, OS family) -> noisy installations

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form: no pseudonyms, no content, only noisy counts at or above k."""
        return {
            "day": self.period,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise_scale": self.scale,
            "threshold": self.threshold,
            "min_k": self.min_k,
            "groups": [{"group": gid, "installations": n} for gid, n in sorted(self.groups.items())],
            "platforms": [{"release": r, "os_family": o, "installations": n}
                          for (r, o), n in sorted(self.platforms.items())],
        }


def _from_row(row: Any) -> PublishedRelease:
    payload = json.loads(row.payload)
    return PublishedRelease(
        project_id=row.project_id, period=row.period, published_at=row.published_at, epsilon=row.epsilon,
        delta=row.delta, scale=row.scale, threshold=row.threshold, min_k=row.min_k,
        groups={int(g): int(n) for g, n in payload["groups"]},
        platforms={(str(r), str(o)): int(n) for r, o, n in payload["platforms"]})


def published_release(conn: Connection, project_id: str, period: str) -> PublishedRelease | None:
    """The stored release of ``period``, or ``None``."""
    row = conn.execute(sa.select(dp_releases).where(
        dp_releases.c.project_id == project_id, dp_releases.c.period == period)).first()
    return None if row is None else _from_row(row)


def _day_rows(conn: Connection, project_id: str, period: str) -> list[Any]:
    return list(conn.execute(
        sa.select(reports.c.install_id, reports.c.group_id, reports.c.release, reports.c.os_family)
        .where(reports.c.project_id == project_id, reports.c.day == period)
        .order_by(reports.c.id)))


def publish_day(engine: Engine, project_id: str, period: str, *, epsilon_per_day: float, min_k: int,
                now: datetime | None = None) -> PublishedRelease:
    """The public release of ``period`` (a finished UTC day): the stored one, else a new one.

    A new release spends the day's budget and is stored in the same transaction, so a
    release exists if and only if its spend is in the ledger.

    Raises:
        ValueError: the day has not ended yet (its numbers would still change).
        BudgetExceededError: the day's budget is already spent but no release is stored
            (another purpose used it).
    """
    now = now or datetime.now(UTC)
    if date.fromisoformat(period) >= now.date():
        raise ValueError(f"{period} has not ended yet (UTC)")
    with engine.connect() as conn:
        stored = published_release(conn, project_id, period)
    if stored is not None:
        return stored
    params = noise_parameters(float(epsilon_per_day), int(min_k))
    with write_tx(engine) as conn:
        stored = published_release(conn, project_id, period)  # a concurrent publisher won
        if stored is not None:
            return stored
        spend_budget(conn, project_id, period, epsilon=params.epsilon * _TABLES, delta=params.delta * _TABLES,
                     limit_epsilon=float(epsilon_per_day), now=now)
        rows = _day_rows(conn, project_id, period)
        groups = release_counts(bound_contributions((r.install_id, str(r.group_id)) for r in rows), params)
        platforms = release_counts(bound_contributions(
            (r.install_id, json.dumps([r.release or "", r.os_family or ""])) for r in rows), params)
        payload = {"groups": sorted([int(g), n] for g, n in groups.items()),
                   "platforms": sorted([*json.loads(key), n] for key, n in platforms.items())}
        conn.execute(dp_releases.insert().values(
            project_id=project_id, period=period, published_at=now, epsilon=params.epsilon * _TABLES,
            delta=params.delta * _TABLES, scale=params.scale, threshold=params.threshold, min_k=int(min_k),
            payload=json.dumps(payload)))
    with engine.connect() as conn:
        result = published_release(conn, project_id, period)
    assert result is not None
    return result


def public_releases(engine: Engine, project_id: str, *, epsilon_per_day: float, min_k: int, days: int = 30,
                    now: datetime | None = None) -> list[PublishedRelease]:
    """The releases of the last ``days`` finished days, oldest first, publishing missing ones."""
    now = now or datetime.now(UTC)
    today = now.date()
    out = []
    for back in range(days, 0, -1):
        period = (today - timedelta(days=back)).isoformat()
        out.append(publish_day(engine, project_id, period, epsilon_per_day=epsilon_per_day, min_k=min_k, now=now))
    return out
