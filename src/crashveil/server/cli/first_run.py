"""A first run without surprises: ``server init`` builds its directory aside and says in one
line what went wrong with the database.

``server init`` writes the KEK, the CA, the server certificate, the database and the first
project. If any of it fails (PostgreSQL unreachable, the database not created yet, a role
without rights), a half-made directory would make the rerun fail with "already exists". So
the directory is built in a hidden sibling and renamed into place only once everything
worked; on failure the sibling is removed and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crashveil.errors import DatabaseSetupError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from crashveil.server.settings import Settings

__all__ = ["InitRequest", "database_problem", "init_server_dir", "staged_directory"]


@dataclass(frozen=True)
class InitRequest:
    """What ``crashveil server init`` was asked to make."""

    root: Path
    project: str
    database: str | None
    host: str
    port: int
    web_port: int
    public_host: str
    names: tuple[str, ...]
    public_url: str
    suite: str
    policy_text: str | None
    actor: str


def init_server_dir(request: InitRequest) -> tuple[Settings, str, str]:
    """Make the server directory; returns (its settings, the first project's id, its connection string).

    Raises:
        click.ClickException: the directory is already a server directory, or is not empty.
        DatabaseSetupError: the database failed (one line: what, and the fix); nothing is left.
    """
    from crashveil.server.settings import DEFAULT_DATABASE, Settings, resolve_database_url

    root = request.root
    if (root / "settings.toml").exists():
        raise click.ClickException(f"{root} is already a server directory")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise click.ClickException(f"{root} exists and is not an empty directory; give a new or empty one")
    database = request.database or DEFAULT_DATABASE
    Settings(server_dir=root, database_url=resolve_database_url(database, root), host=request.host,
             port=request.port, web_port=request.web_port, public_host=request.public_host,
             public_url=request.public_url, server_names=request.names, sealing_suite=request.suite).validate()
    try:
        with staged_directory(root) as staging:
            settings = Settings(server_dir=staging, database_url=resolve_database_url(database, staging),
                                host=request.host, port=request.port, web_port=request.web_port,
                                public_host=request.public_host, public_url=request.public_url,
                                server_names=request.names, sealing_suite=request.suite)
            settings = _with_connect_host_named(settings)
            project_id, dsn = _build(settings, request)
    except Exception as exc:
        problem = database_problem(resolve_database_url(database, root), exc)
        if problem is None:
            raise
        raise problem from None
    return dataclasses.replace(settings, server_dir=root, database_url=resolve_database_url(database, root)), \
        project_id, dsn


def _with_connect_host_named(settings: Settings) -> Settings:
    """The host apps connect to (``--public-host``, else ``--public-url``'s) among the server
    certificate's names: the SDK checks the name against the certificate, so a connection
    string naming a host the certificate lacks would fail at its first send."""
    from crashveil.server.keys.pki import LOOPBACK_NAMES

    host = settings.connect_host
    if host in LOOPBACK_NAMES or host in settings.server_names or host in ("0.0.0.0", "::"):
        return settings
    return dataclasses.replace(settings, server_names=(*settings.server_names, host))


def _build(settings: Settings, request: InitRequest) -> tuple[str, str]:
    """Database first (the likeliest failure; one that already belongs to a server is
    refused), then KEK, CA, server certificate, settings and project."""
    from crashveil.server.cli.context import utc_now
    from crashveil.server.cluster import identity
    from crashveil.server.db.engine import create_engine, migrate

    now = utc_now()
    server_id = identity.new_server_id()
    engine = create_engine(settings.database_url)
    try:
        identity.refuse_foreign_database(engine)
        migrate(engine)
        identity.claim_database(engine, server_id, now=now)
        try:
            identity.write_directory_id(settings.server_dir, server_id)
            return _build_files(settings, request, engine)
        except BaseException:
            with contextlib.suppress(Exception):  # the database is the likeliest reason we are here
                identity.release_claim(engine, server_id)
            raise
    finally:
        engine.dispose()


def _build_files(settings: Settings, request: InitRequest, engine: Engine) -> tuple[str, str]:
    """KEK, CA, server certificate, settings, the first project; then the host is registered."""
    from crashveil.server.cli.context import connection_string, open_storage, utc_now
    from crashveil.server.cli.project import add_project
    from crashveil.server.cluster.hosts import register_host
    from crashveil.server.keys import pki
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import write_settings

    now = utc_now()
    FileKeyProvider.create(settings.kek_path, now=now)
    ca = pki.create_ca("crashveil local CA", now=now)
    pki.write_certificate(settings.ca_cert_path, ca)
    pki.write_private_key(settings.ca_key_path, ca)
    server = pki.issue_server_cert(ca, settings.server_names, now=now)
    pki.write_certificate(settings.server_cert_path, server)
    pki.write_private_key(settings.server_key_path, server)
    settings.tls_dir.chmod(0o700)
    write_settings(settings)
    storage = open_storage(settings)
    try:
        record = add_project(settings, storage, request.project, request.policy_text, public_summary=False,
                             actor=request.actor)
        result = record.id, connection_string(settings, record)
    finally:
        storage.close()
    register_host(engine, settings.this_host, now=now)
    return result


@contextmanager
def staged_directory(root: Path) -> Iterator[Path]:
    """A private directory to build ``root`` in, moved into place when the block succeeds.

    A new ``root`` is built in a hidden sibling and renamed. An existing, empty ``root`` (a
    mounted volume, which cannot be renamed over) is built in a hidden directory inside it whose
    entries move up at the end. On an exception (or Ctrl-C) the staging directory is removed
    and ``root`` is left as it was.
    """
    inside = root.is_dir()
    if not inside:
        root.parent.mkdir(parents=True, exist_ok=True)
    staging = (root / f".init-{secrets.token_hex(4)}" if inside
               else root.parent / f".{root.name}.init-{secrets.token_hex(4)}")
    staging.mkdir(mode=0o700)
    try:
        yield staging
        if inside:
            for entry in sorted(staging.iterdir()):
                os.rename(entry, root / entry.name)
            staging.rmdir()
        else:
            os.rename(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def database_problem(url: str, exc: BaseException) -> DatabaseSetupError | None:
    """One line naming what failed with the database at ``url`` and how to fix it, or ``None``
    when ``exc`` is not a database error. Never shows the password of ``url``."""
    import sqlalchemy.exc

    from crashveil.errors import DatabaseUnreachable

    if isinstance(exc, DatabaseUnreachable) and isinstance(exc.__cause__, sqlalchemy.exc.DBAPIError):
        exc = exc.__cause__  # the driver's error says which fix to suggest
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return None
    parsed = _parsed(url)
    if parsed is None:
        return DatabaseSetupError(f"the database failed ({type(exc.orig).__name__}); check --database and rerun")
    backend, host, port, database, user = parsed
    if backend == "sqlite":
        return DatabaseSetupError(f"SQLite database {database} failed ({_first_line(exc.orig)}); "
                                  "check the directory's space and permissions, then rerun")
    where = f"{host}:{port}"
    state = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig)
    login = f" -U {user}" if user else ""
    if state == "3D000" or f'database "{database}" does not exist' in text:
        return DatabaseSetupError(
            f'database "{database}" does not exist on PostgreSQL at {where}: create it '
            f"(createdb -h {host} -p {port}{login} {database}) and rerun")
    if state == "42501" or "permission denied" in text:
        return DatabaseSetupError(
            f'role "{user}" has no permission to create tables in database "{database}" at {where}: '
            f"make it the owner (ALTER DATABASE {database} OWNER TO {user}) or GRANT CREATE ON SCHEMA public "
            f"TO {user}, then rerun")
    if state in ("28P01", "28000") or "authentication failed" in text or (
            f'role "{user}" does not exist' in text):
        return DatabaseSetupError(
            f'PostgreSQL at {where} refused role "{user}" (unknown role or wrong password): '
            f"create the role (createuser -h {host} -p {port} {user}) or fix --database, then rerun")
    if "connection" in text.lower() or "timeout" in text.lower():
        return DatabaseSetupError(
            f"cannot reach PostgreSQL at {where} ({_reason(text)}): start it or fix the host and port in "
            "--database, then rerun")
    return DatabaseSetupError(f'PostgreSQL at {where}, database "{database}": {type(exc.orig).__name__} '
                              f"(sqlstate {state or 'none'}); fix it and rerun")


def _parsed(url: str) -> tuple[str, str, int, str, str] | None:
    """(backend, host, port, database, user) of a database URL, or ``None`` when unparsable."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    backend = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
    return backend, parsed.host or "localhost", parsed.port or 5432, parsed.database or "", parsed.username or ""


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0][:200] if exc is not None and str(exc).strip() else "no detail"


def _reason(text: str) -> str:
    """The short cause of a failed connection, as libpq words it (no host or user names)."""
    lowered = text.lower()
    for known in ("connection refused", "timeout expired", "no route to host", "name or service not known",
                  "network is unreachable", "could not translate host name"):
        if known in lowered:
            return known
    return "connection failed"
