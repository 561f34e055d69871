"""Alert rules per project: what makes a notification, where it goes, when it waits.

A rule has a ``kind`` (``notification.RULE_KINDS``), the destinations it goes to (names of
the policy's ``[forwarding.NAME]`` entries), its threshold (spike: a factor over the group's
hourly baseline; crash-free rate: a percentage), quiet hours (a local time window during
which notifications wait, then go out as one digest or only the latest) and a deduplication
window (one incident, one notification). Stored in ``alert_rules`` (migration 0026).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import BadAlertRule
from crashveil.policy.model import Policy
from crashveil.server.alerts.notification import RULE_KINDS
from crashveil.server.alerts.tables import alert_rules
from crashveil.server.db import engine as db

__all__ = ["QUIET_MODES", "QuietHours", "AlertRule", "make_rule", "add_rule", "list_rules", "remove_rule",
           "rules_for"]

QUIET_MODES = ("digest", "latest")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DESTINATION = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
#: Defaults: a spike is 3x the group's hourly baseline and at least 10 reports in the hour.
SPIKE_FACTOR, SPIKE_MIN_COUNT = 3.0, 10


@dataclass(frozen=True)
class QuietHours:
    """``start``..``end`` local time in ``timezone`` (may cross midnight); ``mode``: ``digest``
    (one notification listing what waited) or ``latest`` (only the newest goes out)."""

    start: time
    end: time
    timezone: str
    mode: str = "digest"

    def release_at(self, moment: datetime) -> datetime | None:
        """When notifications made at ``moment`` may go (UTC), or None: not quiet then."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            if not self.start <= now < self.end:
                return None
            day = local.date()
        elif now >= self.start:
            day = local.date() + timedelta(days=1)
        elif now < self.end:
            day = local.date()
        else:
            return None
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class AlertRule:
    id: int
    project_id: str
    kind: str
    destinations: tuple[str, ...]
    threshold: float | None = None
    min_count: int = 0
    release: str | None = None
    quiet: QuietHours | None = None
    dedupe_window_s: int = 86400


def make_rule(project_id: str, kind: str, destinations: Sequence[str], policy: Policy, *,
              threshold: float | None = None, min_count: int | None = None, release: str | None = None,
              quiet: str | None = None, timezone: str = "UTC", quiet_mode: str = "digest",
              dedupe_window_s: int = 86400) -> AlertRule:
    """A validated rule (id 0, not stored). ``quiet``: ``"22:00-07:00"``.

    Raises:
        BadAlertRule: an option is unknown or malformed, or a destination is not one the
            project's policy forwards to.
    """
    if kind not in RULE_KINDS:
        raise BadAlertRule("kind", f"one of: {', '.join(RULE_KINDS)}")
    if not destinations:
        raise BadAlertRule("destinations", "at least one destination")
    for name in destinations:
        if not _DESTINATION.fullmatch(name) or name not in policy.forwarding:
            known = ", ".join(sorted(policy.forwarding)) or "(none: add a [forwarding.NAME] entry to the policy)"
            raise BadAlertRule("destination", f"a destination the project's policy forwards to: {known}")
    if kind == "spike":
        threshold = SPIKE_FACTOR if threshold is None else threshold
        if not 1.0 < threshold <= 1000.0:
            raise BadAlertRule("threshold", "a factor over the hourly baseline, > 1 and <= 1000")
        min_count = SPIKE_MIN_COUNT if min_count is None else min_count
    elif kind == "crash_free_rate":
        if threshold is None or not 0.0 < threshold <= 100.0:
            raise BadAlertRule("threshold", "a crash-free percentage, > 0 and <= 100")
    elif threshold is not None:
        raise BadAlertRule("threshold", f"nothing: a {kind} rule has no threshold")
    if min_count is not None and not 0 <= min_count <= 10**9:
        raise BadAlertRule("min_count", "an integer >= 0")
    if release is not None and (kind != "crash_free_rate" or not 0 < len(release) <= 128):
        raise BadAlertRule("release", "a release (at most 128 characters), on a crash_free_rate rule only")
    if not 60 <= dedupe_window_s <= 90 * 86400:
        raise BadAlertRule("dedupe_window_s", "seconds between 60 and 90 days")
    return AlertRule(0, project_id, kind, tuple(dict.fromkeys(destinations)), threshold, min_count or 0, release,
                     _quiet(quiet, timezone, quiet_mode), dedupe_window_s)


def _quiet(window: str | None, timezone: str, mode: str) -> QuietHours | None:
    if mode not in QUIET_MODES:
        raise BadAlertRule("quiet_mode", f"one of: {', '.join(QUIET_MODES)}")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise BadAlertRule("timezone", "an IANA time zone such as Europe/Berlin") from exc
    if window is None:
        return None
    start, _, end = window.partition("-")
    first, second = _CLOCK.fullmatch(start.strip()), _CLOCK.fullmatch(end.strip())
    if first is None or second is None or start.strip() == end.strip():
        raise BadAlertRule("quiet", "a window HH:MM-HH:MM (24-hour clock, start and end differ)")
    return QuietHours(time(int(first[1]), int(first[2])), time(int(second[1]), int(second[2])), timezone, mode)


def add_rule(engine: Engine, rule: AlertRule, *, now: datetime) -> int:
    """Store ``rule``; its id."""
    quiet = rule.quiet
    with db.write_tx(engine) as conn:
        key = conn.execute(alert_rules.insert().values(
            project_id=rule.project_id, kind=rule.kind, destinations=",".join(rule.destinations),
            threshold=rule.threshold, min_count=rule.min_count, release=rule.release,
            quiet_start=quiet.start.strftime("%H:%M") if quiet else None,
            quiet_end=quiet.end.strftime("%H:%M") if quiet else None,
            timezone=quiet.timezone if quiet else "UTC", quiet_mode=quiet.mode if quiet else "digest",
            dedupe_window_s=rule.dedupe_window_s, created_at=now)).inserted_primary_key
    assert key is not None
    return int(key[0])


def remove_rule(engine: Engine, project_id: str, rule_id: int) -> bool:
    """Delete a rule (its pending notifications go with it); whether it existed."""
    with db.write_tx(engine) as conn:
        return conn.execute(alert_rules.delete().where(alert_rules.c.project_id == project_id,
                                                       alert_rules.c.id == rule_id)).rowcount == 1


def list_rules(engine: Engine, project_id: str) -> list[AlertRule]:
    with db.read_tx(engine) as conn:
        return rules_for(conn, [project_id])


def rules_for(conn: Connection, project_ids: Sequence[str], kinds: Sequence[str] = RULE_KINDS) -> list[AlertRule]:
    """The rules of ``project_ids`` of ``kinds``, in id order."""
    c = alert_rules.c
    rows = conn.execute(sa.select(alert_rules).where(c.project_id.in_(list(project_ids)), c.kind.in_(list(kinds)))
                        .order_by(c.id)).all()
    return [_from_row(row) for row in rows]


def _from_row(row: sa.Row[tuple[object, ...]]) -> AlertRule:
    m = row._mapping
    quiet = None
    if m["quiet_start"] and m["quiet_end"]:
        quiet = QuietHours(time.fromisoformat(m["quiet_start"]), time.fromisoformat(m["quiet_end"]), m["timezone"],
                           m["quiet_mode"])
    return AlertRule(m["id"], m["project_id"], m["kind"], tuple(m["destinations"].split(",")), m["threshold"],
                     m["min_count"], m["release"], quiet, m["dedupe_window_s"])
