"""A migrated SQLite database for a test, copied from one made once per test process.

Migrating an empty file runs every Alembic step, about half a second on the CI machine; a
copy of a file migrated once takes a few milliseconds. Tests of the migrations themselves
(tests/server/storage/test_migrations.py, tests/server/upgrade) still migrate for real.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

__all__ = ["migrated_sqlite"]


@functools.cache
def _template() -> Path:
    from crashveil.server.db import engine as db

    folder = Path(tempfile.mkdtemp(prefix="crashveil-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"
    engine = db.create_engine(f"sqlite:///{path}")
    db.migrate(engine)
    engine.dispose()  # the last connection closes: the WAL is folded into the file
    return path


def migrated_sqlite(path: Path) -> str:
    """Put an empty database at the newest revision at ``path``; its SQLAlchemy URL."""
    shutil.copyfile(_template(), path)
    return f"sqlite:///{path}"
