"""Which roles see which dashboard pages (derived from ``principals.PERMISSIONS`` where it says)."""

from __future__ import annotations

from crashveil.server.governance.principals import PERMISSIONS

__all__ = ["PRIVACY_ROLES", "READ_ROLES", "STATUS_ROLES"]

#: Who may change a group's status.
STATUS_ROLES = frozenset({"developer", "admin"})
#: Who may open one report, after stating a reason (``reports.read``).
READ_ROLES = frozenset(role for role, perms in PERMISSIONS.items() if "reports.read" in perms)
#: Who sees the privacy pages (``audit.read``).
PRIVACY_ROLES = frozenset(role for role, perms in PERMISSIONS.items() if "audit.read" in perms)
