"""What read-only callers use of a :class:`~crashveil.server.storage.store.Storage`.

The public summary and the audit report read projects and run their own queries on the
engine; they never write through the storage, and this protocol says so in their signatures.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa

from crashveil.server.storage.records import ProjectRecord, ProjectSummary

__all__ = ["ProjectReader"]


class ProjectReader(Protocol):
    """Projects (cached records, summaries) and the engine to read their data with."""

    @property
    def engine(self) -> sa.Engine:
        """The database to read from (callers open their own read transactions)."""
        ...

    def project(self, project_id: str, *, fresh: bool = False) -> ProjectRecord | None:
        """The project, its policies and usable keys; ``None`` if there is none."""
        ...

    def list_projects(self) -> list[ProjectSummary]:
        """Every project, in id order."""
        ...
