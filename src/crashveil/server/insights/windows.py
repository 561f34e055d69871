"""The public summary over windows: bounded contributions, Gaussian noise, a threshold.

One release per project and window (``aggregation.window_days``, a week by default; windows
lie on a fixed grid of UTC days, weeks starting on Monday). A window is released once it
has ended, stored in ``dp_releases`` and then served as stored: noise is never redrawn.
Its spend goes into the ledger in the same transaction (``accountant.spend_window``), which
refuses a window that would take the privacy loss per installation over the yearly bound.

Two tables per window, as the per-day release had:

- **groups**: installations that crashed in each crash group. An installation counts at
  most once per group and in at most :data:`MAX_GROUPS_PER_INSTALL` groups per window (its
  first ones in report order), so one installation changes at most that many counts by one
  (L0 = 4, L2 = 2).
- **platforms**: installations by (release, OS family) of their first report of the window;
  each counts once (L0 = L2 = 1).

The mechanism is OpenDP's ``make_gaussian_threshold``: discrete Gaussian noise on counts in
a map whose keys are not known in advance, and a threshold below which a key is left out
(keys are data too: a release string is chosen by the client). Its privacy map gives
(rho, delta) in approximate zCDP; rho is split between the tables by
:data:`GROUPS_SHARE` and each table's delta is half the window's threshold delta. The
threshold is the smallest one at or above ``min_k`` with a small enough delta, so no
published count is below k and a key seen by a single installation is published with
probability below that delta. Reports without an install pseudonym cannot be bounded and
are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_GROUPS_PER_INSTALL",
    "GROUPS_SHARE",
    "TableNoise",
    "WindowNoise",
    "window_start",
    "period_key",
    "window_noise",
    "bound_window",
    "release_table",
]

#: Crash groups one installation can count in per window (its first ones).
MAX_GROUPS_PER_INSTALL = 4
#: Share of a window's rho given to the groups table (the rest to platforms).
GROUPS_SHARE = 0.75
#: Window grids start on a Monday, so weekly windows are ISO weeks.
_GRID_EPOCH = date(1970, 1, 5)


def window_start(day: date, window_days: int) -> date:
    """The first day of the window of ``window_days`` days that holds ``day``."""
    offset = (day - _GRID_EPOCH).days % window_days
    return day - timedelta(days=offset)


def period_key(start: date, window_days: int) -> str:
    """``2026-11-30`` for a one-day window (as per-day releases were keyed), else ``first/last`` day."""
    if window_days == 1:
        return start.isoformat()
    return f"{start.isoformat()}/{(start + timedelta(days=window_days - 1)).isoformat()}"


@dataclass(frozen=True)
class TableNoise:
    """How one table of a window is noised."""

    l0: int  # keys one installation can change
    scale: float  # Gaussian scale (OpenDP's; rho = l2**2 / (2 * scale**2))
    threshold: int  # smallest published noisy count, >= min_k
    rho: float
    delta: float


@dataclass(frozen=True)
class WindowNoise:
    groups: TableNoise
    platforms: TableNoise

    @property
    def rho(self) -> float:
        return self.groups.rho + self.platforms.rho

    @property
    def delta(self) -> float:
        return self.groups.delta + self.platforms.delta


def _measurement(scale: float, threshold: int) -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    metric = dp.l02inf_distance(dp.absolute_distance(T="i64"))
    return dp.m.make_gaussian_threshold(domain, metric, scale=scale, threshold=threshold)


def _privacy_map(scale: float, threshold: int, l0: int) -> tuple[float, float]:
    l2 = math.isqrt(l0)  # l0 is a perfect square (1 or 4), so L2 is exact
    rho, delta = _measurement(scale, threshold).map((l0, l2, 1))
    return float(rho), float(delta)


def _table_noise(rho: float, delta: float, l0: int, min_k: int) -> TableNoise:
    scale = math.sqrt(l0 / (2 * rho))
    low = max(int(min_k), 1)
    high = low
    while _privacy_map(scale, high, l0)[1] > delta:
        high *= 2
    while low < high:  # the smallest threshold with a small enough delta
        middle = (low + high) // 2
        if _privacy_map(scale, middle, l0)[1] <= delta:
            high = middle
        else:
            low = middle + 1
    spent_rho, spent_delta = _privacy_map(scale, high, l0)
    return TableNoise(l0=l0, scale=scale, threshold=high, rho=spent_rho, delta=spent_delta)


@lru_cache(maxsize=64)
def window_noise(rho_per_window: float, threshold_delta_per_window: float, min_k: int) -> WindowNoise:
    """Scales and thresholds of a window's two tables, from its share of the yearly budget.

    Raises:
        ValueError: rho or delta is not positive.
    """
    if not rho_per_window > 0 or not threshold_delta_per_window > 0:
        raise ValueError("a window needs a positive rho and delta")
    delta = threshold_delta_per_window / 2
    groups = _table_noise(rho_per_window * GROUPS_SHARE * (1 - 1e-9), delta, MAX_GROUPS_PER_INSTALL, min_k)
    platforms = _table_noise(rho_per_window * (1 - GROUPS_SHARE) * (1 - 1e-9), delta, 1, min_k)
    return WindowNoise(groups=groups, platforms=platforms)


def bound_window(rows: Iterable[tuple[str | None, str, str]]) -> tuple[dict[str, int], dict[str, int]]:
    """(group counts, platform counts) of a window's ``(install_id, group key, platform key)`` rows.

    Rows come in the order reports were received; see the module docstring for the bounds.
    """
    groups_of: dict[str, set[str]] = {}
    platform_of: dict[str, str] = {}
    for install_id, group, platform in rows:
        if not install_id:
            continue
        platform_of.setdefault(install_id, platform)
        seen = groups_of.setdefault(install_id, set())
        if len(seen) < MAX_GROUPS_PER_INSTALL:
            seen.add(group)
    groups: dict[str, int] = {}
    for seen in groups_of.values():
        for group in seen:
            groups[group] = groups.get(group, 0) + 1
    platforms: dict[str, int] = {}
    for platform in platform_of.values():
        platforms[platform] = platforms.get(platform, 0) + 1
    return groups, platforms


def release_table(counts: Mapping[str, int], noise: TableNoise) -> dict[str, int]:
    """Noisy counts of ``counts``, keys below the threshold left out (OpenDP's secure sampler)."""
    if not counts:
        return {}
    released = _measurement(noise.scale, noise.threshold)({str(k): int(v) for k, v in counts.items()})
    return {str(key): int(value) for key, value in released.items()}


def platform_key(release: str | None, os_family: str | None) -> str:
    return json.dumps([release or "", os_family or ""])
