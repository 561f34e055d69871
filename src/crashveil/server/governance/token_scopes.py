"""What an API token may be used for (its scopes), and how its uses are counted.

A token carries roles in projects (what its user may see, never more than the user's
current grants) and scopes (which API operations it may call at all). Both must allow a
call: ``groups:write`` on a token whose roles cannot change groups still changes nothing.

=================  ==========================================================================
``groups:read``    list and read crash groups, and their aggregates (releases, daily counts)
``groups:write``   change a group's status and assignee
``reports:read``   read one report (with a stated reason; audited like a dashboard read)
``audit:read``     read the audit trail
``admin``          every scope above, and listing and revoking API tokens (audited)
=================  ==========================================================================

Uses: a token's ``last_used_at`` and ``use_count`` are written at most once a minute per
token and process (:class:`UseCounter`), not on every request: a busy script would
otherwise turn each read into a write transaction. Uses in between are counted in memory
and added at the next write, so the stored count lags by at most a minute (and loses that
minute if the process dies). Writes and report reads are also each an audit entry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from crashveil.errors import ConfigError

__all__ = ["SCOPES", "USE_WRITE_EVERY", "UseCounter", "check_scopes", "has_scope"]

SCOPES = ("groups:read", "groups:write", "reports:read", "audit:read", "admin")
#: A token's use is written to the database at most this often (per process).
USE_WRITE_EVERY = timedelta(minutes=1)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes sorted and deduplicated; :class:`ConfigError` naming an unknown one."""
    found = set()
    for scope in scopes:
        if scope not in SCOPES:
            raise ConfigError("scope", f"{scope!r} is not a scope", " or ".join(SCOPES))
        found.add(scope)
    return sorted(found)


def has_scope(held: Iterable[str], scope: str) -> bool:
    """Whether ``held`` grants ``scope`` (``admin`` grants every scope)."""
    owned = set(held)
    return scope in owned or "admin" in owned


class UseCounter:
    """Uses per token not yet written, and whether one is due to be written now."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, token_id: str, last_written: datetime | None, now: datetime) -> int:
        """Count one use; returns the uses to write now (0: not due, kept in memory)."""
        with self._lock:
            pending = self._pending.get(token_id, 0) + 1
            if last_written is not None and now - last_written < USE_WRITE_EVERY:
                self._pending[token_id] = pending
                return 0
            self._pending.pop(token_id, None)
            return pending

    def restore(self, token_id: str, uses: int) -> None:
        """Keep ``uses`` for later (another process wrote the row first)."""
        with self._lock:
            self._pending[token_id] = self._pending.get(token_id, 0) + uses
