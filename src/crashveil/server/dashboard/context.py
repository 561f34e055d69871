"""What every dashboard page handler is given: one typed :class:`DashboardContext`.

Built once by ``routes.dashboard_routes`` and bound into each route's endpoint
(``page.Page``), so handlers are plain module-level functions with no closure state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, cast

import jinja2
from sqlalchemy.engine import Engine

from crashveil.server.dashboard.login_flow import CookieSpec, LoginGuard
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.insights.anomaly import AnomalySettings
from crashveil.server.storage.store import Storage

__all__ = ["DashboardContext", "TtlCache"]

T = TypeVar("T")
_MAX_ENTRIES = 10_000


@dataclass
class TtlCache:
    """Values reused for ``ttl_s`` seconds per key (monotonic clock); ``ttl_s <= 0`` turns it off.

    With ``version`` (the cache version of ``server/cluster/cache_versions.py``, read without
    I/O), a value is reused only while the version it was computed under is current: a
    change on any host reaches this cache within the version check period, not the TTL.
    Holds at most 10 000 keys; past that it starts over rather than tracking age.
    """

    ttl_s: float
    version: Callable[[], int] = lambda: 0
    _entries: dict[Hashable, tuple[float, int, object]] = field(default_factory=dict)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl_s <= 0:
            return compute()
        clock = time.monotonic()
        version = self.version()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > clock and hit[1] == version:
            return cast(T, hit[2])
        value = compute()
        if len(self._entries) > _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (clock + self.ttl_s, version, value)
        return value


@dataclass(frozen=True)
class DashboardContext:
    """The dashboard's dependencies and settings, shared by every page.

    Attributes:
        storage: projects, groups, keys and sealed reports.
        access: users, sessions and audited report reads.
        audit: the audit trail (report reads and status changes are recorded).
        env: the Jinja2 environment (``templating.templates``).
        secret: the dashboard secret (``csrf.load_or_create_secret``).
        session_cookie: the signed-in session's cookie.
        login_cookie: the log-in form's pre-session CSRF cookie.
        login_guard: single-use nonces and the per-peer limit of log-in posts.
        now: the clock.
        anomaly: settings of the volume anomaly scores.
        group_cache: the group list's expensive parts, per project and filter.
    """

    storage: Storage
    access: AccessStore
    audit: AuditTrail
    env: jinja2.Environment
    secret: bytes
    session_cookie: CookieSpec
    login_cookie: CookieSpec
    login_guard: LoginGuard
    now: Callable[[], datetime]
    anomaly: AnomalySettings
    group_cache: TtlCache

    @property
    def engine(self) -> Engine:
        return self.storage.engine
