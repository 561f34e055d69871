"""Volume anomalies: an hourly count far above its recent level, per project and per group.

A spike can mean a bad release, a misconfigured client or abuse, so it is shown on the
dashboard and exported as a metric (:class:`VolumeAnomalyCollector`).

Method: an exponentially weighted moving average and variance of the hourly counts
(``alpha`` = 0.1, an effective memory of about 19 hours, Roberts 1959; Finch 2009
"Incremental calculation of weighted mean and variance"). Hour ``t`` is scored against the
state *before* it: ``z = (x_t - mean) / sqrt(max(var, mean, 1))``. The ``mean`` floor is the
Poisson variance: a quiet series (variance near 0) would otherwise turn one extra crash
into a huge z. An hour is an anomaly when ``z >= z_threshold`` (4) and ``x_t >=
min_count`` (10): a jump from 0 to 3 crashes is not worth a page. The first ``warmup_hours``
(12) only train the state. A spike is folded into the state like any hour, so a new,
lasting level stops being anomalous after a few hours; that is deliberate (a level shift
is reported when it starts, not forever).

No alarm without a baseline: a brand-new project's first reports are all "far above" an
empty past, so the dashboard's banner waits for :func:`daily_baseline` to find at least
``baseline_min_days`` (7) days with reports among the ``baseline_days`` (14) whole days
before today, and then says what that baseline was (mean and median reports per day,
over which days), so a reader can judge the alarm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.server.db.rollup_tables import group_daily_rollups
from crashveil.server.db.tables import group_rollups, projects

__all__ = ["AnomalySettings", "Baseline", "daily_baseline", "HourScore", "score_series", "anomalies", "hour_key",
           "hours_back", "project_series", "group_series", "VolumeAnomalyCollector"]


@dataclass(frozen=True)
class AnomalySettings:
    """Parameters of the detector (see the module docstring for the reasons)."""

    alpha: float = 0.1
    z_threshold: float = 4.0
    min_count: int = 10
    warmup_hours: int = 12
    baseline_days: int = 14
    baseline_min_days: int = 7


@dataclass(frozen=True)
class HourScore:
    """One hour of a series, scored."""

    hour: str
    count: int
    expected: float
    z: float
    anomalous: bool


def score_series(series: Sequence[tuple[str, int]], settings: AnomalySettings = AnomalySettings()) -> list[HourScore]:
    """Score every hour of ``series`` (``(hour, count)``, oldest first, no gaps)."""
    out: list[HourScore] = []
    mean = 0.0
    var = 0.0
    for index, (hour, count) in enumerate(series):
        if index == 0:
            mean = float(count)
            out.append(HourScore(hour, count, mean, 0.0, False))
            continue
        z = (count - mean) / math.sqrt(max(var, mean, 1.0))
        anomalous = index >= settings.warmup_hours and z >= settings.z_threshold and count >= settings.min_count
        out.append(HourScore(hour, count, mean, z, anomalous))
        diff = count - mean
        mean += settings.alpha * diff
        var = (1 - settings.alpha) * (var + settings.alpha * diff * diff)
    return out


@dataclass(frozen=True)
class Baseline:
    """A project's reports per day over the whole days ``first_day`` .. ``last_day``."""

    first_day: str
    last_day: str
    days: int
    days_with_reports: int
    mean: float
    median: float

    def established(self, settings: AnomalySettings) -> bool:
        """Whether there is enough history to call anything an anomaly."""
        return self.days_with_reports >= settings.baseline_min_days


def daily_baseline(conn: Connection, project_id: str, *, now: datetime,
                   settings: AnomalySettings = AnomalySettings()) -> Baseline:
    """Reports per day of ``project_id`` over the ``baseline_days`` whole UTC days before
    ``now``'s day (the daily roll-ups; days without reports count as 0)."""
    import statistics

    today = now.astimezone(UTC).date()
    days = [(today - timedelta(days=back)).isoformat() for back in range(settings.baseline_days, 0, -1)]
    t = group_daily_rollups.c
    counts = dict(conn.execute(sa.select(t.day, sa.func.sum(t.count)).where(
        t.project_id == project_id, t.day >= days[0], t.day <= days[-1]).group_by(t.day)).all())
    series = [int(counts.get(day, 0)) for day in days]
    return Baseline(days[0], days[-1], len(days), sum(1 for n in series if n > 0),
                    statistics.fmean(series), float(statistics.median(series)))


def anomalies(series: Sequence[tuple[str, int]], settings: AnomalySettings = AnomalySettings()) -> list[HourScore]:
    """The anomalous hours of ``series``."""
    return [score for score in score_series(series, settings) if score.anomalous]


def hour_key(moment: datetime) -> str:
    """The roll-up key of ``moment``'s hour, ``2026-05-01T13:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")


def hours_back(now: datetime, hours: int) -> list[str]:
    """Keys of the ``hours`` hours ending with ``now``'s hour, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [hour_key(top - timedelta(hours=back)) for back in range(hours - 1, -1, -1)]


def _fill(hours: list[str], counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(hour, int(counts.get(hour, 0))) for hour in hours]


def project_series(conn: Connection, project_id: str, *, now: datetime, hours: int = 168) -> list[tuple[str, int]]:
    """Hourly report counts of a project, the last ``hours`` hours, gaps filled with 0."""
    keys = hours_back(now, hours)
    rows = conn.execute(
        sa.select(group_rollups.c.hour, sa.func.sum(group_rollups.c.count))
        .where(group_rollups.c.project_id == project_id, group_rollups.c.hour >= keys[0])
        .group_by(group_rollups.c.hour))
    return _fill(keys, {hour: n for hour, n in rows})


def group_series(conn: Connection, group_ids: Iterable[int], *, now: datetime,
                 hours: int = 168) -> dict[int, list[tuple[str, int]]]:
    """Hourly report counts of each group in ``group_ids``, gaps filled with 0."""
    ids = list(group_ids)
    keys = hours_back(now, hours)
    found: dict[int, dict[str, int]] = {gid: {} for gid in ids}
    if ids:
        rows = conn.execute(
            sa.select(group_rollups.c.group_id, group_rollups.c.hour, sa.func.sum(group_rollups.c.count))
            .where(group_rollups.c.group_id.in_(ids), group_rollups.c.hour >= keys[0])
            .group_by(group_rollups.c.group_id, group_rollups.c.hour))
        for gid, hour, n in rows:
            found[gid][hour] = n
    return {gid: _fill(keys, found[gid]) for gid in ids}


class VolumeAnomalyCollector:
    """A Prometheus collector scoring each project's and its groups' latest hour at scrape.

    Register it on the app's registry: ``metrics.registry.register(VolumeAnomalyCollector(engine))``.
    Labels are project ids (server-defined), never client text.

    Exposes ``crashveil_volume_zscore{project}`` (z of the project's current hour) and
    ``crashveil_volume_anomalous_groups{project}`` (groups whose current hour is anomalous).
    """

    def __init__(self, engine: Engine, settings: AnomalySettings = AnomalySettings(), *,
                 clock: Any = None) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        zscore = GaugeMetricFamily("crashveil_volume_zscore",
                                   "EWMA z-score of the current hour's report count, per project.", labels=["project"])
        flagged = GaugeMetricFamily("crashveil_volume_anomalous_groups",
                                    "Crash groups whose current hour is a volume anomaly, per project.",
                                    labels=["project"])
        now = self.clock()
        with self.engine.connect() as conn:
            project_ids = [row[0] for row in conn.execute(sa.select(projects.c.id))]
            for project_id in project_ids:
                scores = score_series(project_series(conn, project_id, now=now, hours=72), self.settings)
                zscore.add_metric([project_id], scores[-1].z if scores else 0.0)
                recent = [gid for (gid,) in conn.execute(
                    sa.select(group_rollups.c.group_id).distinct()
                    .where(group_rollups.c.project_id == project_id, group_rollups.c.hour == hour_key(now)))]
                series = group_series(conn, recent, now=now, hours=72)
                count = sum(1 for s in series.values() if score_series(s, self.settings)[-1].anomalous)
                flagged.add_metric([project_id], float(count))
        yield zscore
        yield flagged
