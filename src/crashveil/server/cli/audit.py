"""Audit entries of governance changes made on the command line.

Every command that changes who may see what, which policy applies or which keys exist
writes an entry of the audit vocabulary (``audit.ACTIONS``) when it succeeds: the actor
(``--actor NAME``, from ``crashveil.cli.options``, else ``os:<the operating-system user>``), the
target (project, key id, user) and a summary of ids, names and counts; never report content and never a secret.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditEntry
    from crashveil.server.storage.store import Storage

__all__ = ["resolve_actor", "record"]

_ACTOR_RE = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,128}$")


def resolve_actor(given: str | None) -> str:
    """The audit actor: ``given`` (checked), else ``os:<login name>``."""
    if given is not None:
        if not _ACTOR_RE.match(given):
            raise click.BadParameter("letters, digits and _.:@+=- only, at most 128 characters", param_hint="--actor")
        return given
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        user = "unknown"
    return "os:" + (re.sub(r"[^A-Za-z0-9_.@+=-]", "_", user)[:120] or "unknown")


def record(storage: Storage, action: str, *, actor: str, project_id: str | None = None,
           subject: str | None = None, detail: Mapping[str, object] | None = None) -> AuditEntry:
    """Append one entry to the audit trail of ``storage``'s server directory (and sign the head)."""
    from crashveil.server.governance.audit import AuditTrail

    trail = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir)
    return trail.record(action, actor=actor, project_id=project_id, subject=subject, detail=detail)
