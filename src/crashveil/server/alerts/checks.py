"""The periodic alert checks: spikes against a group's hourly baseline, and releases whose
crash-free rate fell under a rule's threshold. Run by one host at a time (a
``PeriodicJob`` under the ``alerts`` lease); what they find goes to the outbox in the same
transaction, deduplicated per rule, subject and window, so running twice changes nothing.

A spike needs a baseline: the project must have reports on ``baseline_min_days`` of the
last ``baseline_days`` days (``insights.anomaly.daily_baseline``, the dashboard's banner
rule), else nothing is called a spike. The hour judged is the last whole hour; it is a
spike when its count is at least ``min_count`` and at least ``threshold`` times the
group's mean hourly count over the week before (a mean under 1 counts as 1).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.policy.model import Policy
from crashveil.server.alerts.outbox import PENDING, Incident, enqueue
from crashveil.server.alerts.rules import AlertRule
from crashveil.server.alerts.tables import alert_deliveries, alert_outbox, alert_rules
from crashveil.server.alerts.triggers import group_link, group_title
from crashveil.server.db import engine as db
from crashveil.server.db.tables import crash_groups, group_rollups
from crashveil.server.insights import anomaly

__all__ = ["run_alert_checks", "spike_incidents", "crash_free_incidents", "prune_outbox", "BASELINE_HOURS",
           "MAX_RELEASES_CHECKED", "KEEP_DAYS"]

#: The hours before the judged hour a group's baseline is the mean of.
BASELINE_HOURS = 168
#: A crash-free rule without a release watches the most recent releases only.
MAX_RELEASES_CHECKED = 5
#: Days settled outbox rows and delivery log rows are kept (the longest deduplication window).
KEEP_DAYS = 90


def run_alert_checks(engine: Engine, policy_of: Callable[[str], Policy | None], *, now: datetime,
                     base_url: str = "") -> int:
    """Check every spike and crash-free rule; notifications queued."""
    from crashveil.server.alerts.rules import rules_for

    with db.read_tx(engine) as conn:
        projects = [row[0] for row in conn.execute(sa.select(alert_rules.c.project_id).distinct().where(
            alert_rules.c.kind.in_(["spike", "crash_free_rate"])))]
    prune_outbox(engine, now=now)
    made = 0
    for project_id in sorted(projects):
        policy = policy_of(project_id)
        if policy is None:
            continue
        with db.write_tx(engine) as conn:
            for rule in rules_for(conn, [project_id], ("spike", "crash_free_rate")):
                found = (spike_incidents(conn, rule, now=now, base_url=base_url) if rule.kind == "spike"
                         else crash_free_incidents(conn, rule, now=now, min_k=policy.aggregation.min_k,
                                                   base_url=base_url))
                made += sum(enqueue(conn, rule, incident, now=now) for incident in found)
    return made


def prune_outbox(engine: Engine, *, now: datetime) -> int:
    """Delete settled outbox rows and delivery log rows older than :data:`KEEP_DAYS`, and every
    outbox row of a group that is gone (retention or erasure deleted it: its title goes too);
    rows deleted."""
    cutoff = now - timedelta(days=KEEP_DAYS)
    o = alert_outbox.c
    with db.write_tx(engine) as conn:
        done = conn.execute(alert_outbox.delete().where(o.state != PENDING, o.created_at < cutoff)).rowcount
        done += conn.execute(alert_outbox.delete().where(
            o.group_id.is_not(None), ~sa.exists().where(crash_groups.c.id == o.group_id))).rowcount
        return done + conn.execute(alert_deliveries.delete().where(alert_deliveries.c.at < cutoff)).rowcount


def spike_incidents(conn: Connection, rule: AlertRule, *, now: datetime, base_url: str = "") -> list[Incident]:
    """The groups of ``rule``'s project whose last whole hour is a spike (none without a baseline)."""
    if not anomaly.daily_baseline(conn, rule.project_id, now=now).established(anomaly.AnomalySettings()):
        return []
    judged = anomaly.hour_key(now - timedelta(hours=1))
    r = group_rollups.c
    candidates = dict(conn.execute(
        sa.select(r.group_id, sa.func.sum(r.count)).where(r.project_id == rule.project_id, r.hour == judged)
        .group_by(r.group_id).having(sa.func.sum(r.count) >= max(rule.min_count, 1))).all())
    if not candidates:
        return []
    series = anomaly.group_series(conn, candidates, now=now - timedelta(hours=1), hours=BASELINE_HOURS + 1)
    factor = rule.threshold or 3.0
    found = []
    for group_id, counts in sorted(series.items()):
        count = int(candidates[group_id])
        mean = statistics.fmean(n for _, n in counts[:-1])
        if count < factor * max(mean, 1.0):
            continue
        row = conn.execute(sa.select(crash_groups.c.crash_type, crash_groups.c.title_message)
                           .where(crash_groups.c.id == group_id)).first()
        if row is None:
            continue
        found.append(Incident(
            rule.project_id, "spike", f"g{group_id}", group_title(row.crash_type, row.title_message),
            f"{count} reports in the hour {judged}, against a baseline of {mean:.1f} per hour.",
            group_link(base_url, rule.project_id, group_id), datetime.fromisoformat(judged.replace("Z", "+00:00")),
            group_id, {"crash_type": row.crash_type}))
    return found


def crash_free_incidents(conn: Connection, rule: AlertRule, *, now: datetime, min_k: int,
                         base_url: str = "") -> list[Incident]:
    """The releases whose crash-free rate (the releases page's, k applied) is under the threshold."""
    from crashveil.server.dashboard.releases.queries import release_health

    threshold = rule.threshold or 100.0
    rows = release_health(conn, rule.project_id, now=now, min_k=min_k,
                          releases=[rule.release] if rule.release else None)
    found = []
    for health in rows[: 1 if rule.release else MAX_RELEASES_CHECKED]:
        if health.crash_free is None or health.crash_free * 100.0 >= threshold:
            continue
        found.append(Incident(
            rule.project_id, "crash_free_rate", f"r{health.release}", "Crash-free rate below threshold",
            f"Crash-free rate {health.crash_free * 100.0:.2f}% is below the threshold of {threshold:g}%.",
            f"{base_url.rstrip('/')}/p/{rule.project_id}/releases", now, None, {"release": health.release}))
    return found
