"""What every API handler is given: one typed :class:`ApiContext`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.governance.access import AccessStore
from crashveil.server.storage.store import Storage

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    """The API's dependencies.

    Attributes:
        storage: projects, groups and sealed reports.
        access: tokens (``authenticate_api``) and users.
        dashboard: the dashboard's context, for the status and assignee changes the API
            shares with the dashboard's pages (one code path, one audit entry form).
        now: the clock.
    """

    storage: Storage
    access: AccessStore
    dashboard: DashboardContext
    now: Callable[[], datetime]
