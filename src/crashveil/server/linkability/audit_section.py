"""The audit report's linkability section: how much one pseudonym links, and how much the
quasi-identifier check coarsened, per pseudonym period overlapping the report's period.

- Reports per pseudonym: a histogram (1, 2-3, 4-10, 11-50, more) of how many reports each
  pseudonym of the period sent; a bucket of fewer than k pseudonyms shows no counts.
- Quasi-identifier groups: the share of the period's reports whose exact combination was
  shared by fewer than k installations when it came (before coarsening: those stored at a
  coarser rung or suppressed), and after: the share of stored reports whose stored OS family
  group of the period has fewer than k pseudonyms (suppressed reports left out).

Counts and shares only: no pseudonym, digest or value of a report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.policy.model import Policy
from crashveil.server.db.tables import reports
from crashveil.server.linkability.ladder import RUNGS, SUPPRESSED
from crashveil.server.linkability.tables import quasi_rung_reports

__all__ = ["BUCKETS", "linkability_blocks", "linkability_section", "period_bounds"]

#: (label, lowest, highest) reports per pseudonym.
BUCKETS = (("1", 1, 1), ("2-3", 2, 3), ("4-10", 4, 10), ("11-50", 11, 50), ("more than 50", 51, None))
_RUNG_NAMES = ("exact", "coarsened once", "coarsened twice", "suppressed")
#: Periods shown at most (the newest).
_MAX_PERIODS = 3


def linkability_section(conn: Connection, project_id: str, policy: Policy, *, since: datetime,
                        until: datetime) -> dict[str, Any]:
    """The section's data for the pseudonym periods overlapping ``[since, until)``."""
    days, k = policy.keys.pseudonym_rotation_days, policy.aggregation.quasi_k
    span = days * 86_400
    first, last = int(since.timestamp()) // span, (int(until.timestamp()) - 1) // span
    periods = [_period(conn, project_id, period, span, k, policy.aggregation.min_k)
               for period in range(max(first, last - _MAX_PERIODS + 1), last + 1)]
    return {"rotation_days": days, "k": k, "periods": periods}


def _hour(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:00Z")


def _period(conn: Connection, project_id: str, period: int, span: int, k: int, min_k: int) -> dict[str, Any]:
    start, end = _hour(period * span), _hour((period + 1) * span)
    c = reports.c
    in_period = (c.project_id == project_id, c.hour >= start, c.hour < end)
    per_pseudonym = sa.select(sa.func.count().label("n")).where(*in_period, c.install_id.is_not(None)).group_by(
        c.install_id).subquery()
    sizes = conn.execute(sa.select(per_pseudonym.c.n, sa.func.count()).group_by(per_pseudonym.c.n)).all()
    histogram = []
    for label, low, high in BUCKETS:
        pseudonyms = sum(count for n, count in sizes if n >= low and (high is None or n <= high))
        sent = sum(n * count for n, count in sizes if n >= low and (high is None or n <= high))
        shown = pseudonyms == 0 or pseudonyms >= min_k
        histogram.append({"reports_per_pseudonym": label, "pseudonyms": pseudonyms if shown else None,
                          "reports": sent if shown else None})
    tallies = dict(conn.execute(sa.select(quasi_rung_reports.c.rung, quasi_rung_reports.c.reports).where(
        quasi_rung_reports.c.project_id == project_id, quasi_rung_reports.c.period == period)).all())
    checked = sum(tallies.values())
    groups = sa.select(c.os_family, sa.func.count().label("n"),
                       sa.func.count(sa.distinct(c.install_id)).label("installs")).where(
        *in_period, c.os_family.is_not(None), c.os_family != "").group_by(c.os_family).subquery()
    small_after, stored = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((groups.c.installs < k, groups.c.n), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(groups.c.n), 0))).one()
    return {
        "period": period, "from": start, "until": end, "histogram": histogram,
        "rungs": {_RUNG_NAMES[r]: int(tallies.get(r, 0)) for r in RUNGS},
        "small_groups_before": _share(checked - tallies.get(0, 0), checked),
        "small_groups_after": _share(int(small_after), int(stored)),
        "suppressed": _share(tallies.get(SUPPRESSED, 0), checked),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def linkability_blocks(section: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The section as the audit report's blocks (headings, paragraphs, tables)."""
    blocks: list[tuple[Any, ...]] = [
        ("h", 3, "Linkability"),
        ("p", (f"Pseudonyms rotate every {section['rotation_days']} days; quasi-identifier combinations are "
               f"stored only as far as at least k = {section['k']} installations share them in the period.",))]
    for period in section["periods"]:
        blocks.append(("p", (f"Period {period['period']} ({period['from']} to {period['until']}): "
                             f"reports in quasi-identifier groups smaller than k before coarsening "
                             f"{_percent(period['small_groups_before'])}, "
                             f"after {_percent(period['small_groups_after'])} "
                             f"(suppressed {_percent(period['suppressed'])}); reports by rung: "
                             + ", ".join(f"{name} {count}" for name, count in period["rungs"].items()) + ".",)))
        blocks.append(("table", ["reports per pseudonym", "pseudonyms", "reports"],
                       [[h["reports_per_pseudonym"], _folded(h["pseudonyms"]), _folded(h["reports"])]
                        for h in period["histogram"]]))
    return blocks


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


def _folded(value: int | None) -> str:
    return "fewer than k" if value is None else str(value)


def period_bounds(period: int, rotation_days: int) -> tuple[datetime, datetime]:
    """The UTC start and end of pseudonym period ``period`` (for callers and tests)."""
    start = datetime.fromtimestamp(period * rotation_days * 86_400, UTC)
    return start, start + timedelta(days=rotation_days)

