"""What the server's commands share: the clock, the server directory's settings and storage.

Server modules are imported inside the functions, so importing a command module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.server.storage.store import Storage

__all__ = ["confirm_or_refuse", "connection_string", "dashboard_url", "load_settings", "open_storage", "opened",
           "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_settings(server_dir: str | None) -> Settings:
    """The settings of ``--server-dir`` (default: ``$CRASHVEIL_SERVER_DIR``, else the current directory)."""
    from crashveil.server.settings import Settings, server_dir_from_env

    return Settings.load(server_dir_from_env(server_dir, os.environ))


def open_storage(settings: Settings) -> Storage:
    """The server directory's storage (refuses unsafe durability settings or an unknown schema)."""
    from crashveil.server.storage.store import Storage

    return Storage.open(settings)


@contextmanager
def opened(server_dir: str | None) -> Iterator[tuple[Settings, Storage]]:
    """(settings, storage) of ``--server-dir``; the storage is closed on the way out."""
    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        yield settings, storage
    finally:
        storage.close()


def connection_string(settings: Settings, record: ProjectRecord) -> str:
    """The connection string an app's SDK is configured with, for one project."""
    from crashveil.server.keys.pki import ca_der
    from crashveil.wire.protocol import ConnectionString

    return ConnectionString(host=settings.connect_host, port=settings.port, project=record.id,
                            public_key=record.keypairs[0].public_key_string(),
                            signing_key=record.signing_key.public_key_string(),
                            ca_der=ca_der(settings.ca_cert_path)).format()


def confirm_or_refuse(question: str, *, yes: bool, flag: str = "--yes") -> None:
    """Ask ``question`` on the terminal unless ``yes``; a "no" aborts. Without a terminal on
    stdin (a script, a pipe) nobody can answer, so it refuses in one line naming ``flag``."""
    import sys

    import click

    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException(f"refusing without confirmation: stdin is not a terminal (pass {flag} to go on)")
    if not click.confirm(question, default=False, err=True):
        raise click.ClickException("nothing done (not confirmed)")


def dashboard_url(settings: Settings) -> str:
    """The dashboard's address as people reach it: under ``public_url`` when set, else the web
    listener's own (``Settings.web_endpoint``); the scheme's default port is left out."""
    scheme, host, port = settings.web_endpoint
    shown = f"[{host}]" if ":" in host else host
    default = {"https": 443, "http": 80}[scheme]
    return f"{scheme}://{shown}{'' if port in (None, default) else f':{port}'}/dashboard/"
