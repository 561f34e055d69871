"""Where a database's schema stands against this code: its revision, the head this code
knows, and the migration steps between them (what ``crashveil server upgrade`` shows).

A server runs only on the head schema (:func:`engine.schema_problem`), so every step needs
the server stopped: the old code refuses the new schema at start, the new code the old one.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.db import engine as db

__all__ = ["MigrationStep", "SchemaState", "read_state", "pending_steps"]


@dataclass(frozen=True)
class MigrationStep:
    """One migration: ``down_revision`` -> ``revision``, and the first line of its docstring."""

    revision: str
    down_revision: str | None
    summary: str


@dataclass(frozen=True)
class SchemaState:
    """``current`` is None for an empty database; ``known`` is False for a newer release's
    revision (then ``steps`` is empty and nothing may touch the schema)."""

    current: str | None
    head: str
    known: bool
    steps: tuple[MigrationStep, ...]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def pending_steps(current: str | None, target: str = "heads") -> tuple[MigrationStep, ...]:
    """The migrations from ``current`` (None: an empty database) up to ``target``, oldest first."""
    scripts = list(db.migration_scripts().iterate_revisions(target, current or "base"))
    steps = []
    for one in reversed(scripts):
        down = one.down_revision
        steps.append(MigrationStep(revision=one.revision,
                                   down_revision=down if isinstance(down, str) or down is None else "+".join(down),
                                   summary=_summary(one.doc or "")))
    return tuple(steps)


def _summary(doc: str) -> str:
    """A migration docstring's first paragraph on one line, at most ~100 characters."""
    first = " ".join(doc.strip().split("\n\n", 1)[0].split())
    return textwrap.shorten(first, width=100, placeholder=" ...")


def read_state(engine: Engine) -> SchemaState:
    """The schema state of ``engine``'s database (read only; nothing is changed).

    Raises:
        DatabaseUnreachable: the database cannot be connected to.
    """
    try:
        with engine.connect() as conn:
            current = db.current_revision(conn)
    except sa.exc.DBAPIError as exc:
        raise db.unreachable(engine, exc) from exc
    head = db.head_revision()
    if current is not None and not db.is_known_revision(current):
        return SchemaState(current=current, head=head, known=False, steps=())
    return SchemaState(current=current, head=head, known=True, steps=pending_steps(current))
