"""Log-in hardening in the store: an atomic per-account limit, typed names kept only as keyed
digests, and anonymous audit entries behind a rate limit (issue 14, items 3, 12, 14).

They run on SQLite and on PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from crashveil.errors import LoginBlocked, LoginFailed
from crashveil.server.db.governance_tables import login_failures
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.http.ratelimit import KeyedLimiter

PW = "correct horse battery"


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting how many passwords it checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # argon2's name
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def store(trail: AuditTrail, clock, hasher: CountingHasher) -> AccessStore:
    made = AccessStore(trail.engine, trail, now=clock, hasher=hasher, max_failures=10,
                       account_key=b"a" * 32)
    made.add_user("dana", PW, actor="cli")
    return made


def test_concurrent_wrong_passwords_check_at_most_the_limit(store: AccessStore, hasher: CountingHasher) -> None:
    """60 wrong passwords for one account at once: exactly the limit's 10 passwords are checked,
    the other 50 are refused as blocked without running argon2."""
    barrier = threading.Barrier(60)

    def attempt(_: int) -> str:
        barrier.wait(timeout=30)
        try:
            store.login("dana", "wrong password here")
        except LoginBlocked:
            return "blocked"
        except LoginFailed:
            return "failed"
        return "ok"

    with ThreadPoolExecutor(max_workers=60) as pool:
        outcomes = list(pool.map(attempt, range(60)))
    assert (10, 10, 50) == (hasher.verified, outcomes.count("failed"), outcomes.count("blocked"))


def test_failed_logins_keep_a_keyed_digest_of_the_typed_name(store: AccessStore, trail: AuditTrail, clock) -> None:
    """The failure rows hold an HMAC of the typed name, never the name; repeated failures for
    one name share one digest, and another server key gives another digest."""
    for name in ("Canary-Name-4711", "canary-name-4711 ", "someone-else"):
        with pytest.raises(LoginFailed):
            store.login(name, "wrong password here")
    with trail.engine.connect() as conn:
        accounts = [r.account for r in conn.execute(sa.select(login_failures.c.account)
                                                    .order_by(login_failures.c.id))]
    other = AccessStore(trail.engine, trail, now=clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024),
                        account_key=b"b" * 32)
    with pytest.raises(LoginFailed):
        other.login("canary-name-4711", "wrong password here")
    with trail.engine.connect() as conn:
        newest = conn.execute(sa.select(login_failures.c.account).order_by(login_failures.c.id.desc())).first()
    assert (False, True, False, False) == (
        any("canary" in a or "someone" in a for a in accounts), accounts[0] == accounts[1],
        accounts[0] == accounts[2], newest.account == accounts[0])


def test_anonymous_audit_entries_are_rate_limited_and_counted(trail: AuditTrail, clock) -> None:
    """A flood of failed log-ins under ever new names writes at most the gate's burst of entries;
    the next entry let through says how many were left out."""
    ticks = [0.0]
    gate = KeyedLimiter(rate_per_s=1.0, burst=5, clock=lambda: ticks[0])
    made = AccessStore(trail.engine, trail, now=clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024),
                       account_key=b"a" * 32, anonymous_audit=gate)
    before = len(trail.entries())
    for n in range(40):
        with pytest.raises(LoginFailed):
            made.login(f"flood-{n}", "wrong password here")
    written = len(trail.entries()) - before
    ticks[0] += 1.0
    with pytest.raises(LoginFailed):
        made.login("flood-last", "wrong password here")
    last = trail.entries()[-1]
    assert (5, "login.failure", 35) == (written, last.action, last.details.get("suppressed"))


def test_login_nonce_is_spent_once_and_forgotten_after_expiry(gov_engine, clock) -> None:
    """A nonce is accepted once; its row goes once it would have expired, and only its hash is kept."""
    from crashveil.server.dashboard.login_flow import NonceLedger
    from crashveil.server.db.governance_tables import login_nonces

    ledger = NonceLedger(gov_engine, max_age=timedelta(hours=1), now=clock)
    first, second = ledger.consume("nonce-one"), ledger.consume("nonce-one")
    clock.advance(hours=2)
    ledger.consume("nonce-two")
    with gov_engine.connect() as conn:
        kept = [r.nonce_sha256 for r in conn.execute(sa.select(login_nonces.c.nonce_sha256))]
    assert (True, False, 1, False) == (first, second, len(kept), any("nonce" in k for k in kept))
