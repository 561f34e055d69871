"""``/readyz``: a short list of named checks, each answering a :class:`CheckResult`.

The server is ready when every check passes. A check that fails makes ``/readyz`` answer 503
with ``{"status": "unavailable", "failed": [{"name": ..., "detail": ...}]}``; a check may also
pass with a warning (``warn``), listed under ``"warnings"`` of a 200 answer (e.g. a certificate
that expires soon). Details name the problem and what to do, never report content.

To add a check, write a callable returning a :class:`CheckResult` (blocking: it runs in a
worker thread) and append it in :func:`default_checks`. All checks run together at most once
per ``cache_s`` (a load balancer polling every second costs one round per process every two
seconds), so each should be cheap: one short query, one file read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.storage.store import Storage

__all__ = ["CheckResult", "ReadinessCheck", "Readiness", "answer_body", "audit_check", "database_check",
           "default_checks", "keys_check", "retention_check"]

#: A retention run older than this means the hourly run has stopped working.
RETENTION_OVERDUE = timedelta(hours=3)


@dataclass(frozen=True)
class CheckResult:
    """One check's answer: ``ok`` false fails readiness; ``warn`` marks a passing check's detail."""

    name: str
    ok: bool
    detail: str = ""
    warn: bool = False


class ReadinessCheck(Protocol):
    """A named readiness check (blocking; any exception counts as a failure)."""

    @property
    def name(self) -> str: ...

    def __call__(self) -> CheckResult: ...


@dataclass(frozen=True)
class _Check:
    name: str
    run: Callable[[], CheckResult]

    def __call__(self) -> CheckResult:
        return self.run()


def database_check(storage: Storage) -> ReadinessCheck:
    """Storage accepts writes: a probe transaction, rolled back."""
    def run() -> CheckResult:
        storage.ping()
        return CheckResult("database", True)
    return _Check("database", run)


def audit_check(audit: AuditTrail) -> ReadinessCheck:
    """The audit trail can be written: its signed checkpoint is valid and names an entry that
    is in the database (else every audited action fails, e.g. after a restore of an older copy)."""
    import sqlalchemy as sa

    from crashveil.errors import KeyUnavailableError
    from crashveil.server.db.engine import read_tx
    from crashveil.server.db.governance_tables import audit_entries
    from crashveil.server.governance.audit import BEHIND_HINT

    def run() -> CheckResult:
        try:
            return check()
        except KeyUnavailableError as exc:  # the shared signing key, wrapped by a KEK this host lacks
            return CheckResult("audit", False, f"the audit signing key cannot be used here ({exc}), so audited "
                                               "actions fail: give this host the KEK set the other hosts use")

    def check() -> CheckResult:
        cp = audit.read_checkpoint()
        if cp is None:
            return CheckResult("audit", True)
        problem = audit.checkpoint_problem(cp)
        if problem:
            return CheckResult("audit", False, problem)
        with read_tx(audit.engine) as conn:
            anchored = conn.execute(sa.select(audit_entries.c.hash).where(audit_entries.c.seq == cp.seq)).scalar()
        if anchored != cp.hash:
            return CheckResult("audit", False, f"the audit trail does not reach its signed checkpoint (entry "
                                               f"{cp.seq}), so audited actions fail; {BEHIND_HINT}")
        return CheckResult("audit", True)
    return _Check("audit", run)


def retention_check(storage: Storage, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                    overdue: timedelta = RETENTION_OVERDUE) -> ReadinessCheck:
    """Retention keeps running: the newest run is recent (no run yet passes: a new server)."""
    import sqlalchemy as sa

    from crashveil.server.db.engine import read_tx
    from crashveil.server.db.governance_tables import retention_runs

    def run() -> CheckResult:
        with read_tx(storage.engine) as conn:
            last = conn.execute(sa.select(retention_runs.c.finished_at)
                                .order_by(retention_runs.c.finished_at.desc()).limit(1)).scalar()
        if last is None:
            return CheckResult("retention", True)
        if now() - last > overdue:
            return CheckResult("retention", False, f"the last retention run finished {last:%Y-%m-%d %H:%M} UTC, "
                                                   "over 3 hours ago: expired data is not being deleted (see the "
                                                   "server log; 'crashveil retention run' shows why)")
        return CheckResult("retention", True)
    return _Check("retention", run)


#: The database half of the ``keys`` check (which KEKs wrap keys) runs at most this often.
KEYS_SCAN_EVERY_S = 15.0


def keys_check(storage: Storage, *, clock: Callable[[], float] = time.monotonic) -> ReadinessCheck:
    """This host can use every key the database holds: its KEK set is readable, holds every
    KEK that wraps a key (a new set distributed to the other hosts and not here yet fails
    it), and no key failed to unwrap since (tried again each round). Names key and KEK ids."""
    from crashveil.errors import ConfigError
    from crashveil.server.db.engine import read_tx
    from crashveil.server.keys.ring import keks_missing_here

    ring = storage.keys
    scanned: dict[str, Any] = {"at": float("-inf"), "missing": {}}

    def run() -> CheckResult:
        try:
            known = {info.kek_id for info in ring.provider.keys()}
        except ConfigError as exc:
            return CheckResult("keys", False, f"the KEK set cannot be read ({exc}); reports needing a key are "
                                              "answered 503 and kept by their senders")
        if clock() - scanned["at"] >= KEYS_SCAN_EVERY_S:
            with read_tx(storage.engine) as conn:
                scanned["missing"] = keks_missing_here(conn, known)
            scanned["at"] = clock()
        missing = {kek: key for kek, key in scanned["missing"].items() if kek not in known}
        problems = [f"key {key} is wrapped under KEK {kek}, which this host's KEK set lacks"
                    for kek, key in sorted(missing.items())]
        problems += [f"key {fault.key_id} cannot be used here ({fault.problem})"
                     for fault in ring.faults.current() if fault.kek_id not in missing]
        if problems:
            return CheckResult("keys", False, "; ".join(problems[:5]) + ": give this host the KEK set the other "
                                              "hosts use (kek_file, kek_env or kek_command); reports needing "
                                              "these keys are answered 503 and kept by their senders")
        return CheckResult("keys", True)
    return _Check("keys", run)


def default_checks(storage: Storage, audit: AuditTrail, *,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[ReadinessCheck]:
    """The server's checks, in the order they are reported."""
    return [database_check(storage), audit_check(audit), retention_check(storage, now=now), keys_check(storage)]


class Readiness:
    """Runs the checks, reusing their answers for ``cache_s``; concurrent callers share one round."""

    def __init__(self, checks: Sequence[ReadinessCheck], clock: Callable[[], float], *, cache_s: float) -> None:
        self._checks = list(checks)
        self._clock = clock
        self._cache_s = cache_s
        self._until = float("-inf")
        self._results: list[CheckResult] = []
        self._probing = threading.Lock()

    def cached(self) -> list[CheckResult] | None:
        """The last results while they are fresh, else None."""
        return self._results if self._clock() < self._until else None

    def check(self) -> list[CheckResult]:
        """Run every check unless another thread just did (blocking: call it in a thread)."""
        with self._probing:
            if self._clock() >= self._until:
                self._results = [_run(check) for check in self._checks]
                self._until = self._clock() + self._cache_s
            return self._results


def _run(check: ReadinessCheck) -> CheckResult:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its type only (no parameters)
        return CheckResult(check.name, False, f"the check failed ({type(exc).__name__})")


def answer_body(results: Sequence[CheckResult]) -> tuple[int, dict[str, Any]]:
    """(status code, JSON body) of ``/readyz`` for ``results``."""
    failed = [{"name": r.name, "detail": r.detail} for r in results if not r.ok]
    warnings = [{"name": r.name, "detail": r.detail} for r in results if r.ok and r.warn]
    if failed:
        return 503, {"status": "unavailable", "failed": failed}
    body: dict[str, Any] = {"status": "ready"}
    if warnings:
        body["warnings"] = warnings
    return 200, body
