"""Alembic environment: always online, on the connection crashveil hands over.

Users never see an alembic.ini: ``crashveil server migrate`` calls
:func:`crashveil.server.db.engine.migrate`, which passes its connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from crashveil.server.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through crashveil.server.db.engine
    raise RuntimeError("run migrations with 'crashveil server migrate'")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE needs batches
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
