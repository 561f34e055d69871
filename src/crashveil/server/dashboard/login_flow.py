"""The dashboard's side of log-in hardening: cookies deleted as they were set, single-use
log-in nonces, and a per-address limit in front of every log-in post.

- :class:`CookieSpec`: a cookie's name and attributes in one place, so the deletion of a
  ``__Host-`` cookie carries ``Secure`` and ``Path=/`` like its setting did (a browser
  ignores a ``Set-Cookie`` for a ``__Host-`` name without them, and the cookie stays).
- :class:`NonceLedger`: the log-in form's nonce is signed and time-limited (``csrf.py``),
  and here also single-use: its SHA-256 is written when a post uses it, and a second use is
  refused before any password check or audit entry. Rows go when the nonce would have
  expired anyway. The ledger is in the database, so it holds across processes.
- :class:`LoginGuard`: bundles those with a token bucket per peer (``crashveil.server.http.peer_tag``:
  an in-memory tag, never the address) for log-in posts. Bursts of 20, then one post every
  30 s; a successful log-in gives its token back. Refused posts write no audit entry, they
  are counted into the next anonymous one (``login_guard.AnonymousAuditGate``). Limits are
  per process, like the ingest limits (``ratelimit.py``); the per-account limit in the
  database holds across processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.engine import Engine
from starlette.responses import Response
from starlette.types import Scope

from crashveil.server.db.engine import dialect_insert, write_tx
from crashveil.server.db.governance_tables import login_nonces
from crashveil.server.governance.login_guard import AnonymousAuditGate
from crashveil.server.http.peer_tag import peer_tag
from crashveil.server.http.ratelimit import KeyedLimiter

__all__ = ["CookieSpec", "LoginGuard", "NonceLedger"]


@dataclass(frozen=True)
class CookieSpec:
    """A cookie's name and the attributes it is set *and* deleted with."""

    name: str
    secure: bool
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] = "strict"
    path: str = "/"

    def set(self, response: Response, value: str, *, max_age: int | None = None) -> None:
        response.set_cookie(self.name, value, max_age=max_age, path=self.path, secure=self.secure,
                            httponly=self.httponly, samesite=self.samesite)

    def delete(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path, secure=self.secure, httponly=self.httponly,
                               samesite=self.samesite)


class NonceLedger:
    """Log-in nonces already used (by SHA-256), so each form posts once."""

    def __init__(self, engine: Engine, *, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.max_age = max_age
        self._now = now

    def consume(self, nonce: str) -> bool:
        """Mark ``nonce`` used; False if it was used before."""
        digest = hashlib.sha256(b"crashveil/login-nonce/v1\x00" + nonce.encode()).hexdigest()
        moment = self._now()
        with write_tx(self.engine) as conn:
            conn.execute(login_nonces.delete().where(login_nonces.c.expires_at < moment))
            spent = conn.execute(dialect_insert(conn, login_nonces).values(
                nonce_sha256=digest, expires_at=moment + self.max_age).on_conflict_do_nothing()
                .returning(login_nonces.c.nonce_sha256)).first()
        return spent is not None


class LoginGuard:
    """What a log-in post passes before its password is checked.

    Args:
        ledger: the single-use nonces.
        gate: the access store's anonymous audit gate (refused posts are counted there).
        per_peer: the bucket per peer (default: bursts of 20, then one post per 30 s).
    """

    def __init__(self, ledger: NonceLedger, gate: AnonymousAuditGate, *, per_peer: KeyedLimiter | None = None) -> None:
        self.ledger = ledger
        self.gate = gate
        self.per_peer = per_peer if per_peer is not None else KeyedLimiter(rate_per_s=1 / 30, burst=20)

    @staticmethod
    def _key(scope: Scope) -> str:
        return peer_tag(scope) or "unknown-peer"

    def throttle(self, scope: Scope) -> float:
        """Take a token for this post's peer: 0.0 if allowed, else seconds to wait (counted)."""
        wait = self.per_peer.take(self._key(scope))
        if wait > 0:
            self.gate.skip()
        return wait

    def succeeded(self, scope: Scope) -> None:
        """A right password: give the peer's token back."""
        self.per_peer.refund(self._key(scope))
