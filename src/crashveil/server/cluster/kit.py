"""A new host's server directory, made from an existing host's (``server add-host``).

A second ``server init`` against the same database would make another KEK and another CA:
the keys in the database could no longer be unwrapped by one of the two, and clients would
trust only one. A new host instead gets the *shared material* of the server (copied, mode
0600, directories 0700) and makes its *own parts*: its server certificate, signed by the
shared CA for its own names, and its host name in ``settings.toml``; it is then registered
in the database (``cluster_hosts``).

:func:`shared_material` is the one list of the files copied; the key material in it comes
from ``keys.shared_secrets.shared_material``, which also names the settings every host must
share and what already lives in the database.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crashveil.errors import ClusterError
from crashveil.server.settings import Settings

__all__ = ["HostKit", "SHARED_FILES", "make_host_dir", "shared_material"]

#: Besides the key material (``keys.shared_secrets.shared_material``): the server's id and the
#: human-editable policy copies (the database keeps every version).
SHARED_FILES = ("server.id",)
SHARED_DIRS = ("projects",)


def shared_material(source: Settings) -> list[Path]:
    """The files of ``source``'s directory a new host copies, relative to it: the server id,
    the key material :func:`keys.shared_secrets.shared_material` names (the KEK file when the
    KEK comes from a file inside the directory, the CA) and the policy copies. A KEK file
    outside the directory is the operator's to distribute (the new host's settings keep its
    path); the audit key, the checkpoint and the dashboard secret are in the database."""
    from crashveil.server.keys.shared_secrets import shared_material as key_material

    server_dir = source.server_dir.resolve()
    found = [Path(name) for name in SHARED_FILES if (server_dir / name).is_file()]
    for path in key_material(source).files:
        resolved = Path(path).resolve()
        if resolved.is_relative_to(server_dir) and resolved.is_file():
            found.append(resolved.relative_to(server_dir))
    for name in SHARED_DIRS:
        root = server_dir / name
        if root.is_dir():
            found.extend(sorted(path.relative_to(server_dir) for path in root.rglob("*") if path.is_file()))
    return found


@dataclass(frozen=True)
class HostKit:
    """What ``add-host`` was asked for: the source directory, the new one, the host's name and
    certificate names, and optionally another address to listen on."""

    source: Path
    target: Path
    host_id: str
    names: tuple[str, ...]
    listen_host: str | None = None


def make_host_dir(kit: HostKit, *, now: datetime) -> Settings:
    """Build ``kit.target`` (staged: nothing is left on failure) and register the host.

    Raises:
        ClusterError: the source is not a server over PostgreSQL, the host name is taken, or
            the source directory and its database belong to different servers.
    """
    from crashveil.server.cli.first_run import staged_directory
    from crashveil.server.cluster.hosts import list_hosts, register_host
    from crashveil.server.cluster.identity import check_identity
    from crashveil.server.storage.store import Storage

    source = Settings.load(kit.source, environ={})  # the file alone: the environment is this shell's
    if source.database_url.startswith("sqlite:"):
        raise ClusterError(f"{kit.source} keeps its database in SQLite, which one host alone can use; several hosts "
                           "need PostgreSQL ('crashveil server init --database postgresql://...')")
    target = kit.target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ClusterError(f"{target} exists and is not an empty directory; give a new or empty one")
    storage = Storage.open(source)
    try:
        check_identity(storage.engine, source.server_dir, now=now)
        if any(host.name == kit.host_id for host in list_hosts(storage.engine)):
            raise ClusterError(f"host {kit.host_id!r} is already a host of this server; give another --host-name")
        with staged_directory(target) as staging:
            _copy_shared(source, staging)
            settings = _host_settings(source, kit, staging)
            _issue_host_cert(settings, now=now)
        register_host(storage.engine, kit.host_id, now=now)
    finally:
        storage.close()
    return dataclasses.replace(settings, server_dir=target)


def _copy_shared(source: Settings, staging: Path) -> None:
    for relative in shared_material(source):
        destination = staging / relative
        for parent in reversed(destination.relative_to(staging).parents[:-1]):
            (staging / parent).mkdir(mode=0o700, exist_ok=True)
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, (source.server_dir / relative).open("rb") as src:
            shutil.copyfileobj(src, out)


def _host_settings(source: Settings, kit: HostKit, staging: Path) -> Settings:
    from crashveil.server.settings import write_settings

    names = kit.names if kit.names else source.server_names
    settings = dataclasses.replace(source, server_dir=staging, host_id=kit.host_id, server_names=tuple(names),
                                   host=kit.listen_host or source.host)
    settings.validate()
    write_settings(settings)
    return settings


def _issue_host_cert(settings: Settings, *, now: datetime) -> None:
    """This host's own server certificate, from the shared CA, for its own names."""
    from crashveil.server.keys import pki

    ca = pki.load_ca(settings.ca_cert_path, settings.ca_key_path)
    server = pki.issue_server_cert(ca, _cert_names(settings), now=now)
    settings.tls_dir.mkdir(mode=0o700, exist_ok=True)
    pki.write_certificate(settings.server_cert_path, server)
    pki.write_private_key(settings.server_key_path, server)


def _cert_names(settings: Settings) -> Sequence[str]:
    """The certificate's names: the host's ``--name``s and the address apps connect to."""
    from crashveil.server.keys.pki import LOOPBACK_NAMES

    names = list(settings.server_names)
    if settings.connect_host not in (*names, *LOOPBACK_NAMES, "0.0.0.0", "::"):
        names.append(settings.connect_host)
    return names
