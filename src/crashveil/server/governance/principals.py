"""Who a principal is and what it may do: roles, permissions, visible fields, reasons.

Roles (per project; project ``"*"`` means every project):

=================  ==================================================================
``viewer``         aggregates only
``developer``      aggregates, and individual (redacted) reports of their projects
``privacy-officer`` audit trail, policy, erasure handling, posture; no report content
``admin``          users, projects, keys
=================  ==================================================================

Which *fields* a role sees is not decided here but by the policy's per-field ``access``
lists (:func:`visible_fields`): a field not listed for a role is never sent to that role.
A principal with no role at all in a project gets :class:`~crashveil.errors.NotVisible`
(HTTP 404, so projects and ids cannot be enumerated); one with a role but not the needed
permission gets :class:`~crashveil.errors.AccessDenied` (403). Pure checks, no database:
``access.AccessStore`` makes principals from users, sessions and tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crashveil.errors import AccessDenied, NotVisible
from crashveil.policy.model import ROLES, Policy

__all__ = [
    "ALL_PROJECTS",
    "MAX_REASON",
    "MIN_REASON",
    "PERMISSIONS",
    "Principal",
    "check_reason",
    "require_permission",
    "visible_fields",
]

ALL_PROJECTS = "*"

#: What each role may do. Field visibility comes from the policy, not from here.
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"aggregates.read"}),
    "developer": frozenset({"aggregates.read", "reports.read"}),
    "privacy-officer": frozenset({"aggregates.read", "audit.read", "policy.read", "erasure.manage",
                                  "posture.read"}),
    "admin": frozenset({"aggregates.read", "users.manage", "projects.manage", "keys.manage"}),
}
assert set(PERMISSIONS) == set(ROLES)

#: Bounds of the stated reason for reading one report (it goes to the audit trail).
MIN_REASON = 10
MAX_REASON = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Principal:
    """Someone authenticated: a user through a session or a token, or the CLI operator."""

    user_id: int | None
    name: str
    kind: str  # "session" | "token" | "cli"
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """The id written to the audit trail."""
        if self.kind == "token":
            return f"token:{self.token_id}"
        if self.kind == "cli":
            return "cli"
        return f"user:{self.user_id}"

    def roles_in(self, project_id: str) -> frozenset[str]:
        """The roles this principal holds in ``project_id`` (``*`` grants included)."""
        return self.grants.get(project_id, frozenset()) | self.grants.get(ALL_PROJECTS, frozenset())

    def projects(self, permission: str | None = None) -> tuple[str, ...]:
        """Projects named in the grants (``*`` stands for all), optionally with ``permission``."""
        return tuple(sorted(p for p, roles in self.grants.items()
                            if permission is None or any(permission in PERMISSIONS[r] for r in roles)))


def require_permission(principal: Principal, project_id: str, permission: str) -> frozenset[str]:
    """The principal's roles in ``project_id`` if one of them grants ``permission``.

    Raises:
        NotVisible: no role at all in the project (404).
        AccessDenied: a role, but none with ``permission`` (403).
    """
    roles = principal.roles_in(project_id)
    if not roles:
        raise NotVisible(f"no project {project_id!r}")
    if not any(permission in PERMISSIONS[role] for role in roles):
        raise AccessDenied(f"{permission} needs a role that grants it in project {project_id!r}")
    return roles


def visible_fields(policy: Policy, roles: Iterable[str]) -> tuple[str, ...]:
    """The policy fields any of ``roles`` may see, in policy order. Nothing else is ever sent."""
    held = set(roles)
    return tuple(name for name, rule in policy.fields.items() if held & set(rule.access))


def check_reason(reason: object) -> str:
    """The stated reason for reading one report, stripped; :class:`AccessDenied` if missing.

    It is written to the audit trail, so it is bounded and single-line. It should name a
    ticket or a purpose, not personal data.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise AccessDenied("reading a report needs a stated reason")
    text = " ".join(reason.split())
    if len(text) < MIN_REASON or len(text) > MAX_REASON or _CONTROL.search(text):
        raise AccessDenied(f"the reason must be {MIN_REASON} to {MAX_REASON} characters on one line")
    return text
