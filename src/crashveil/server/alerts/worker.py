"""The outbox worker: sends due notifications, one attempt each, and logs every attempt.

In each round it takes the due pending rows (oldest first), merges what waited out a quiet
window (one digest, or only the latest), claims each row (an UPDATE only one process can
win, so several processes and hosts share the outbox), passes the notification through the
forwarding filter, hands it to the destination and writes a delivery log row: status,
short detail, attempt, time, never the payload. A failure is retried with exponential
backoff and jitter (at least the destination's ``retry_after_s``) up to ``max_attempts``;
a non-retryable one, a destination the directory does not know or the policy does not
forward to, fails at once. Destinations come from a :class:`DestinationDirectory`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.errors import ForwardingRefused
from crashveil.policy.model import Policy
from crashveil.server.alerts.forwarding import filter_for
from crashveil.server.alerts.notification import DeliveryResult, Destination, Notification
from crashveil.server.alerts.outbox import FAILED, MERGED, PENDING, SENT
from crashveil.server.alerts.tables import alert_deliveries, alert_outbox, alert_rules
from crashveil.server.db import engine as db

__all__ = ["DestinationDirectory", "RetryPolicy", "OutboxWorker"]

logger = logging.getLogger("crashveil.server.alerts")


class DestinationDirectory(Protocol):
    """Where the worker finds a project's destinations (the stored, configured ones)."""

    def for_project(self, project_id: str) -> Sequence[Destination]:
        """The destinations of ``project_id``, each named as its ``[forwarding.NAME]`` entry."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_s * 2**(attempt-1)``, at most ``max_s``, then a jitter of
    -50%..0%; never sooner than the destination's ``retry_after_s``."""

    max_attempts: int = 6
    base_s: float = 30.0
    max_s: float = 3600.0

    def delay(self, attempt: int, retry_after_s: float | None, rng: Callable[[], float]) -> float:
        full = min(self.max_s, self.base_s * 2 ** (attempt - 1))
        return max(full * (0.5 + rng() / 2), min(retry_after_s or 0.0, self.max_s))


class OutboxWorker:
    """Delivers the outbox. :meth:`run_once` is one round; :meth:`start` runs rounds in a
    thread every ``poll_s`` until :meth:`stop`."""

    def __init__(self, engine: Engine, directory: DestinationDirectory, policy_of: Callable[[str], Policy | None],
                 *, retry: RetryPolicy = RetryPolicy(), poll_s: float = 5.0, batch: int = 50, claim_s: float = 300.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 rng: Callable[[], float] = random.random) -> None:
        self.engine = engine
        self.directory = directory
        self.policy_of = policy_of
        self.retry = retry
        self.poll_s = poll_s
        self.batch = batch
        self.claim = timedelta(seconds=claim_s)
        self._clock = clock
        self._rng = rng
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    # -- one round -----------------------------------------------------------------------
    def run_once(self) -> int:
        """Send what is due now; attempts made."""
        now = self._clock()
        rows = self._due(now)
        attempts = 0
        for row in self._merge_held(rows, now):
            if self._claim(row["id"], now):
                self._attempt(row, now)
                attempts += 1
        self.rounds += 1
        return attempts

    def _due(self, now: datetime) -> list[dict[str, Any]]:
        o = alert_outbox.c
        with db.read_tx(self.engine) as conn:
            return [dict(row._mapping) for row in conn.execute(
                sa.select(alert_outbox, alert_rules.c.quiet_mode)
                .join(alert_rules, alert_rules.c.id == o.rule_id)
                .where(o.state == PENDING, o.due_at <= now, sa.or_(o.claimed_until.is_(None), o.claimed_until < now))
                .order_by(o.id).limit(self.batch))]

    def _merge_held(self, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Rows that waited out quiet hours, per rule and destination: the latest goes, as a
        digest of all (``digest``) or alone (``latest``); the others are marked merged."""
        held: dict[tuple[int, str], list[dict[str, Any]]] = {}
        ready = []
        for row in rows:
            if row["held"]:
                held.setdefault((row["rule_id"], row["destination"]), []).append(row)
            else:
                ready.append(row)
        for waited in held.values():
            latest = waited[-1]
            if len(waited) > 1 and latest["quiet_mode"] == "digest":
                latest["summary"] = (f"{len(waited)} alerts waited during quiet hours; the latest: "
                                     f"{latest['summary']}")[:600]
            with db.write_tx(self.engine) as conn:
                conn.execute(alert_outbox.update().where(alert_outbox.c.id.in_([r["id"] for r in waited[:-1]]))
                             .values(state=MERGED, claimed_until=None))
                conn.execute(alert_outbox.update().where(alert_outbox.c.id == latest["id"])
                             .values(held=False, summary=latest["summary"]))
            ready.append(latest)
        return sorted(ready, key=lambda row: row["id"])

    def _claim(self, outbox_id: int, now: datetime) -> bool:
        o = alert_outbox.c
        with db.write_tx(self.engine) as conn:
            return conn.execute(alert_outbox.update().where(
                o.id == outbox_id, o.state == PENDING, sa.or_(o.claimed_until.is_(None), o.claimed_until < now))
                .values(claimed_until=now + self.claim)).rowcount == 1

    def _attempt(self, row: dict[str, Any], now: datetime) -> None:
        result = self._deliver(row)
        attempt = row["attempts"] + 1
        if result.ok:
            state, due = SENT, row["due_at"]
        elif not result.retryable or attempt >= self.retry.max_attempts:
            state, due = FAILED, row["due_at"]
        else:
            state, due = PENDING, now + timedelta(seconds=self.retry.delay(attempt, result.retry_after_s, self._rng))
        with db.write_tx(self.engine) as conn:
            conn.execute(alert_deliveries.insert().values(
                project_id=row["project_id"], outbox_id=row["id"], rule_id=row["rule_id"],
                destination=row["destination"], attempt=attempt, ok=result.ok, status=result.status,
                detail=_short(result.detail), at=self._clock()))
            conn.execute(alert_outbox.update().where(alert_outbox.c.id == row["id"])
                         .values(state=state, attempts=attempt, due_at=due, claimed_until=None))

    def _deliver(self, row: dict[str, Any]) -> DeliveryResult:
        """One attempt: filtered by the policy, to the directory's destination of that name."""
        project_id, name = row["project_id"], row["destination"]
        policy = self.policy_of(project_id)
        if policy is None:
            return DeliveryResult(False, None, "project not found", retryable=False)
        destination = next((d for d in self.directory.for_project(project_id) if d.name == name), None)
        if destination is None:
            return DeliveryResult(False, None, "no destination of that name is configured", retryable=False)
        try:
            notification = filter_for(policy, name, _notification(row))
        except ForwardingRefused:
            return DeliveryResult(False, None, "the policy does not forward to this destination", retryable=False)
        try:
            return destination.deliver(notification)
        except Exception as exc:  # noqa: BLE001 - a destination's bug is one failed attempt, not a dead worker
            logger.warning("destination %s of project %s raised %s", name, project_id, type(exc).__name__)
            return DeliveryResult(False, None, f"the destination raised {type(exc).__name__}")

    # -- thread --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="crashveil-alert-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database is away: the next round retries (logged without content)
                logger.exception("alert outbox round failed")
            self._stop.wait(self.poll_s)


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(project_id=row["project_id"], rule=row["kind"], dedupe_key=row["dedupe_key"],
                        title=row["title"], summary=row["summary"], link=row["link"], occurred_at=row["occurred_at"],
                        fields=json.loads(row["fields"]))


def _short(detail: str) -> str:
    """A destination's detail on one printable line, at most 300 characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in detail)[:300]
