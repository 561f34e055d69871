"""Outcomes of Sentry ingest: what each DSN key's events became, counted and persisted.

Sentry calls what happens to each piece of data an *outcome* (accepted, filtered, rate
limited, invalid, discarded by the client: develop.sentry.dev, "Outcomes"). crashveil keeps
the same idea per DSN key, in one table (``db.sentry_tables.sentry_outcomes``), as counts of
``(kind, subject, reason)``:

=========  =========================  ==================================================
kind       subject                    reason
=========  =========================  ==================================================
event      ``error``                  ``accepted`` (stored) or why it was not stored:
                                      ``user_rate_limited``, ``project_rate_limited``,
                                      ``not_an_error_event``, ``erased``, an error code
item       an envelope item type      ``unsupported_item_type``, ``rate_limited``,
                                      ``too_large``
field      a fixed event field path   why it was left out: the mapping's reasons
                                      (``not_allowlisted``, ...), ``level_too_low``
                                      (the key's consent level does not allow the field),
                                      ``redacted`` (the server's redactor changed it)
client     a Sentry data category     the SDK's own reason, from its ``client_report``
=========  =========================  ==================================================

Every subject and reason is checked against :func:`safe_label` (a short identifier, else
``other``): they come partly from clients, and they become table rows and metric labels.

Counting never costs the request a database write, nor a metric update: an event adds to
a dict in memory (a few microseconds for its ~20 counts) and a background thread flushes it
every ``interval_s`` seconds (and at :meth:`OutcomeRecorder.close`): labels checked, the
metric incremented, one upsert for the batch. A burst of events costs one short write
transaction a second, whatever its size. A flush that fails keeps its counts for the next
one. With several server processes each flushes its own counts; the upsert adds them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from crashveil.server.db import engine as db
from crashveil.server.db.sentry_tables import sentry_outcomes
from crashveil.server.storage.statements import upsert_counts

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ACCEPTED", "KeyOutcomes", "OutcomeRecorder", "key_outcomes", "safe_label"]

logger = logging.getLogger("crashveil.server")

ACCEPTED = "accepted"
KINDS = ("event", "item", "field", "client")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.<>:-]{1,64}$")
#: Seconds between flushes: counts reach the table (and ``sentry-key list``) this late at most.
_FLUSH_INTERVAL_S = 1.0

#: (key id, kind, subject, reason)
OutcomeKey = tuple[int, str, str, str]


def safe_label(text: str) -> str:
    """``text`` if it is a short identifier, else ``other`` (table keys and metric labels)."""
    return text if _LABEL_RE.match(text) else "other"


class OutcomeRecorder:
    """Outcome counts in memory, flushed to the database in batches by a background thread.

    Args:
        engine: the database.
        registry: where the Prometheus counter ``crashveil_sentry_outcomes_total`` lives
            (``None``: no metric).
        interval_s: seconds between flushes; the thread starts with the first count.
    """

    def __init__(self, engine: sa.Engine, registry: CollectorRegistry | None = None, *,
                 interval_s: float = _FLUSH_INTERVAL_S) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._pending: Counter[OutcomeKey] = Counter()  # counted since the last flush
        self._retry: Counter[OutcomeKey] = Counter()  # metered, but a flush failed to write them
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._metric = None
        if registry is not None:
            from prometheus_client import Counter as PromCounter

            self._metric = PromCounter("crashveil_sentry_outcomes", "Sentry outcomes by kind, subject and reason "
                                       "(events stored, and what was dropped and why).",
                                       ["kind", "subject", "reason"], registry=registry)

    def add(self, key_id: int, kind: str, subject: str, reason: str, count: int = 1) -> None:
        """Count ``count`` of ``subject`` (of ``kind``) as ending for ``reason``."""
        self.add_many(key_id, kind, {(subject, reason): count})

    def add_many(self, key_id: int, kind: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Count many (subject, reason) pairs of one kind at once (labels are checked at the flush)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if not counts:
            return
        with self._lock:
            pending = self._pending
            for (subject, reason), n in counts.items():
                if n > 0:
                    pending[(key_id, kind, subject, reason)] += n
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="crashveil-sentry-outcomes", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """Flush every ``interval_s``; exit after an interval with nothing counted (``add`` starts
        it again), so an idle server, or a test's app left behind, keeps no thread."""
        while not self._closed:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            written = self.flush()
            with self._lock:
                if not written and not self._pending and not self._retry:
                    self._thread = None
                    return

    def flush(self) -> int:
        """Write what was counted since the last flush (one transaction); rows written."""
        with self._lock:
            batch, self._pending = _labelled(self._pending), Counter()
            pending, self._retry = self._retry + batch, Counter()
        if self._metric is not None:
            for (_, kind, subject, reason), n in batch.items():
                self._metric.labels(kind, subject, reason).inc(n)
        if not pending:
            return 0
        # A flush that fails keeps its counts (already metered) for the next one.
        rows = [dict(key_id=k[0], kind=k[1], subject=k[2], reason=k[3], count=n) for k, n in sorted(pending.items())]
        try:
            with db.write_tx(self.engine) as conn:
                upsert_counts(conn, sentry_outcomes, ["key_id", "kind", "subject", "reason"], rows, ("count",))
        except SQLAlchemyError as exc:  # kept for the next flush; the metric already counted them
            logger.warning("cannot write Sentry outcomes yet (%s); they are kept for the next flush",
                           type(exc).__name__)
            with self._lock:
                self._retry.update(pending)
            return 0
        return len(rows)

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self.flush()


def _labelled(counts: Counter[OutcomeKey]) -> Counter[OutcomeKey]:
    """``counts`` with every subject and reason passed through :func:`safe_label` (merged)."""
    if all(_LABEL_RE.match(k[2]) and _LABEL_RE.match(k[3]) for k in counts):
        return counts
    result: Counter[OutcomeKey] = Counter()
    for (key_id, kind, subject, reason), n in counts.items():
        result[(key_id, kind, safe_label(subject), safe_label(reason))] += n
    return result


@dataclass(frozen=True)
class KeyOutcomes:
    """One key's outcome counts, as ``sentry-key list`` and the dashboard show them."""

    key_id: int
    counts: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (kind, subject, reason) -> n

    @property
    def stored(self) -> int:
        return self.counts.get(("event", "error", ACCEPTED), 0)

    def dropped_by_reason(self, kinds: Iterable[str] = ("event", "item", "client")) -> dict[str, int]:
        """Events and items not stored, summed by reason (largest first); fields apart."""
        wanted = set(kinds)
        totals: Counter[str] = Counter()
        for (kind, _subject, reason), n in self.counts.items():
            if kind in wanted and not (kind == "event" and reason == ACCEPTED):
                totals[f"{reason}" if kind != "client" else f"client:{reason}"] += n
        return dict(totals.most_common())

    def rows(self, kind: str) -> list[tuple[str, str, int]]:
        """(subject, reason, count) of one kind, largest first."""
        return sorted(((s, r, n) for (k, s, r), n in self.counts.items() if k == kind),
                      key=lambda row: (-row[2], row[0], row[1]))


def key_outcomes(engine: sa.Engine, key_ids: Iterable[int]) -> dict[int, KeyOutcomes]:
    """The outcome counts of ``key_ids`` (a key with none has an empty :class:`KeyOutcomes`)."""
    ids = sorted(set(key_ids))
    found: dict[int, dict[tuple[str, str, str], int]] = {key_id: {} for key_id in ids}
    if ids:
        c = sentry_outcomes.c
        with db.read_tx(engine) as conn:
            for key_id, kind, subject, reason, count in conn.execute(
                    sa.select(c.key_id, c.kind, c.subject, c.reason, c.count).where(c.key_id.in_(ids))):
                found[key_id][(kind, subject, reason)] = int(count)
    return {key_id: KeyOutcomes(key_id, counts) for key_id, counts in found.items()}
