"""Which server a database and a server directory belong to.

``server init`` writes a new random id into the database (``server_identity``, one row) and
into the directory (``server.id``). ``init`` refuses a database that already holds a server
(its keys would be wrapped under another KEK, its clients trust another CA): the fix is
``server add-host``, which copies the first host's shared material. ``run`` and ``migrate``
compare the two ids; a directory pointed at another server's database is refused before it
can write with the wrong keys.

Directories and databases made before identities existed have neither: the first ``run`` or
``migrate`` claims the database for the directory. A directory without an id over a database
that has one is refused (it was made for another database).
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from crashveil.errors import ClusterError
from crashveil.server.db import engine as db
from crashveil.server.db.cluster_tables import server_identity

__all__ = ["SERVER_ID_FILE", "check_identity", "claim_database", "database_server_id", "directory_server_id",
           "new_server_id", "refuse_foreign_database", "release_claim", "write_directory_id"]

#: The server directory's copy of its server id.
SERVER_ID_FILE = "server.id"
_ADD_HOST = "'crashveil server add-host --from EXISTING_DIR --out NEW_DIR'"


def new_server_id() -> str:
    return secrets.token_hex(16)


def directory_server_id(server_dir: Path) -> str | None:
    """The id in ``server_dir/server.id``, or ``None`` when the directory has none."""
    path = server_dir / SERVER_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterError(f"{path} cannot be read ({type(exc).__name__}); restore it from another host") from None
    return text or None


def write_directory_id(server_dir: Path, server_id: str) -> None:
    """Write ``server.id`` (0600, replaced atomically)."""
    path = server_dir / SERVER_ID_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(server_id + "\n")
    os.replace(tmp, path)


def database_server_id(conn: Connection) -> str | None:
    """The id of the server the database belongs to; ``None`` when unclaimed (or not migrated)."""
    if not sa.inspect(conn).has_table(server_identity.name):
        return None
    return conn.execute(sa.select(server_identity.c.server_id).where(server_identity.c.slot == 1)).scalar()


def refuse_foreign_database(engine: Engine) -> None:
    """Before ``init`` touches it: :class:`ClusterError` if the database already holds a server
    (an identity, or projects of a server made before identities existed)."""
    database = _where(engine)
    with db.read_tx(engine) as conn:
        owner = database_server_id(conn)
        inspector = sa.inspect(conn)
        has_projects = inspector.has_table("projects") and conn.execute(
            sa.text("SELECT 1 FROM projects LIMIT 1")).first() is not None
    if owner is not None or has_projects:
        named = f"server {owner}" if owner else "another server (it has projects)"
        raise ClusterError(f"database {database} already belongs to {named}; to run this machine as one more host "
                           f"of it, use {_ADD_HOST} instead of 'server init'")


def claim_database(engine: Engine, server_id: str, *, now: datetime) -> None:
    """Record ``server_id`` as the database's server; :class:`ClusterError` if another won."""
    database = _where(engine)
    try:
        with db.write_tx(engine) as conn:
            owner = database_server_id(conn)
            if owner is None:
                conn.execute(server_identity.insert().values(slot=1, server_id=server_id, created_at=now))
                return
    except IntegrityError:  # another init claimed it between our read and our insert
        with db.read_tx(engine) as conn:
            owner = database_server_id(conn)
    if owner != server_id:
        raise ClusterError(f"database {database} already belongs to server {owner}; use {_ADD_HOST}")


def release_claim(engine: Engine, server_id: str) -> None:
    """Undo :func:`claim_database` after a failed ``init`` (only if the claim is still ours)."""
    with db.write_tx(engine) as conn:
        conn.execute(server_identity.delete().where(server_identity.c.slot == 1,
                                                    server_identity.c.server_id == server_id))


def check_identity(engine: Engine, server_dir: Path, *, now: datetime) -> str:
    """The server id shared by ``server_dir`` and the database (``run``, ``migrate``).

    Raises:
        ClusterError: they name different servers, or the directory has no id and the
            database has one (one line, with the fix).
    """
    database = _where(engine)
    mine = directory_server_id(server_dir)
    with db.read_tx(engine) as conn:
        owner = database_server_id(conn)
    if mine is not None and owner is not None:
        if mine != owner:
            raise ClusterError(f"{server_dir} belongs to server {mine} but database {database} to server {owner}; "
                               f"point database_url at its own database, or make this directory with {_ADD_HOST}")
        return mine
    if mine is None and owner is not None:
        raise ClusterError(f"{server_dir} has no {SERVER_ID_FILE} but database {database} belongs to server {owner}; "
                           f"make this host's directory with {_ADD_HOST}")
    claimed = mine or new_server_id()  # a server made before identities: claim the database now
    claim_database(engine, claimed, now=now)
    if mine is None:
        write_directory_id(server_dir, claimed)
    return claimed


def _where(engine: Engine) -> str:
    """The database as errors name it: its URL without the password."""
    return engine.url.render_as_string(hide_password=True).replace("+psycopg", "", 1)
