"""Log-in hardening of the store: the typed name as a keyed digest, the per-account limit as an
atomic reservation, and a rate limit in front of anonymous audit entries.

**Typed names.** What someone types into the name field may be a password typed into the
wrong box, or a real person's name. Failed log-ins keep only ``HMAC-SHA256(server key,
normalised name)``: repeated failures for one name still share one value (so the limit and
an investigator can correlate them), but the database holds nothing that reads as the name,
and without the key (``keys/dashboard.secret``, outside the database) a guess cannot be
checked offline.

**The limit is a reservation.** Checking the count, then the password, then writing the
failure lets every concurrent attempt pass the check before any failure is written (60 at
once got ~24-60 passwords checked against a limit of 10). :func:`reserve_attempt` counts
*and* writes the attempt in one write transaction that holds a per-account lock (SQLite:
the database's write lock; PostgreSQL: ``pg_advisory_xact_lock`` on the digest), so at most
``limit`` attempts per window are ever evaluated, across threads, processes and hosts. A
reserved attempt counts as a failure until the password proves right; then the account's
failures are cleared.

**Anonymous audit entries.** Failed and refused log-ins are written to the audit trail by
someone nobody has authenticated, so they pass :class:`AnonymousAuditGate`, a token bucket
per process: over its rate they are counted, not written, and the next entry that is
written carries ``"suppressed": n``. The trail keeps its meaning (reads stay visible, the
flood shows as a number) and cannot be flooded.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.engine import is_sqlite
from crashveil.server.db.governance_tables import login_failures
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.http.ratelimit import KeyedLimiter

__all__ = ["ANONYMOUS", "AnonymousAuditGate", "account_digest", "normalise_name", "release_attempts",
           "reserve_attempt"]

ANONYMOUS = "anonymous"
_ACCOUNT_LABEL = b"crashveil/login-account/v1\x00"
_MAX_NAME = 64


def normalise_name(name: object) -> str:
    """The name as the store looks it up: stripped, lower case, at most 64 characters."""
    return name.strip().lower()[:_MAX_NAME] if isinstance(name, str) else ""


def account_digest(key: bytes, name: object) -> str:
    """The keyed digest of a typed name (hex HMAC-SHA256 of the normalised name)."""
    return hmac.new(key, _ACCOUNT_LABEL + normalise_name(name).encode("utf-8"), hashlib.sha256).hexdigest()


def _lock_account(conn: Connection, account: str) -> None:
    """Serialise attempts on one account until the transaction ends (SQLite: already, by
    ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock on the digest)."""
    if not is_sqlite(conn):
        key = int.from_bytes(bytes.fromhex(account[:16]), "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reserve_attempt(conn: Connection, account: str, *, now: datetime, window: timedelta,
                    limit: int) -> tuple[int | None, int]:
    """Count the account's failures in ``window`` and, under ``limit``, reserve one more.

    Call inside a write transaction (:func:`crashveil.server.db.engine.write_tx`); the
    reservation is a failure row, kept if the password is wrong.

    Returns:
        (the reservation's row id, or ``None`` when the limit is reached; failures counted).
    """
    _lock_account(conn, account)
    failures = int(conn.execute(sa.select(sa.func.count()).select_from(login_failures).where(
        login_failures.c.account == account, login_failures.c.at > now - window)).scalar_one())
    if failures >= limit:
        return None, failures
    reserved = conn.execute(login_failures.insert().values(account=account, at=now)).inserted_primary_key[0]  # type: ignore[index]  # SQLAlchemy types it Optional; an insert always has one
    return int(reserved), failures


def release_attempts(conn: Connection, account: str, reservation: int) -> None:
    """After a right password: forget the account's failures up to this attempt (attempts
    reserved after it, still running, keep counting)."""
    _lock_account(conn, account)
    conn.execute(login_failures.delete().where(login_failures.c.account == account,
                                               login_failures.c.id <= reservation))


class AnonymousAuditGate:
    """A token bucket in front of the audit entries of unauthenticated actions.

    Args:
        limiter: the bucket (default: bursts of 30, then one entry per 5 s per process).
    """

    def __init__(self, limiter: KeyedLimiter | None = None) -> None:
        self._limiter = limiter if limiter is not None else KeyedLimiter(rate_per_s=0.2, burst=30, max_keys=1)
        self._suppressed = 0
        self._lock = threading.Lock()

    @property
    def suppressed(self) -> int:
        """Entries left out since the last one written."""
        return self._suppressed

    def skip(self) -> None:
        """Count an anonymous event that is never written on its own (a throttled post)."""
        with self._lock:
            self._suppressed += 1

    def record(self, audit: AuditTrail, action: str, *, subject: str | None = None,
               detail: Mapping[str, object] | None = None) -> bool:
        """Write an anonymous entry if the bucket allows, else count it; True if written."""
        with self._lock:
            if self._limiter.take(ANONYMOUS) > 0:
                self._suppressed += 1
                return False
            left_out, self._suppressed = self._suppressed, 0
        values = dict(detail or {})
        if left_out:
            values["suppressed"] = left_out
        try:
            audit.record(action, actor=ANONYMOUS, subject=subject, detail=values)
        except Exception:
            with self._lock:  # not written: keep the count for the next entry
                self._suppressed += left_out
            raise
        return True
