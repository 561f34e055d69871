"""``crashveil server add-host`` and ``server hosts`` (attached by cli/server.py): several hosts.

A new host's directory is made from an existing host's shared material (``cluster/kit.py``),
never by a second ``server init`` (which ``init`` refuses for a database that already
belongs to a server). Copy the existing directory to the new machine first (it holds the
KEK: use a channel you would trust with it, e.g. ``scp`` between the hosts, or a sealed
``server backup`` archive), then run ``add-host`` there.
"""

from __future__ import annotations

from pathlib import Path

import click

from crashveil.cli.options import server_dir_option
from crashveil.server.cli.context import load_settings, utc_now
from crashveil.server.cli.tables import print_table, table

__all__ = ["server_add_host", "server_hosts"]


@click.command("add-host")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False),
              help="an existing host's server directory (or a copy of it)")
@click.option("--out", "target", required=True, type=click.Path(file_okay=False), help="the new host's directory")
@click.option("--host-name", "host_id", required=True, help="this host's name among the server's hosts")
@click.option("--name", "names", multiple=True,
              help="DNS name or IP of this host for its server certificate (repeatable; default: the source's)")
@click.option("--host", "listen_host", default=None, help="address this host listens on (default: the source's)")
def server_add_host(source: str, target: str, host_id: str, names: tuple[str, ...], listen_host: str | None) -> None:
    """Make a new host's server directory from an existing one's shared material.

    The new directory gets the server's id, its KEK file (when the KEK comes from a file in
    the directory), CA and policies (files 0600), its own server certificate from the shared
    CA, and its host name; the host is registered in the database. The audit key and the
    dashboard secret are already in the database. Nothing secret is printed."""
    from crashveil.server.cluster.kit import HostKit, make_host_dir

    kit = HostKit(source=Path(source).resolve(), target=Path(target), host_id=host_id, names=names,
                  listen_host=listen_host)
    _check_host_name(host_id)
    settings = make_host_dir(kit, now=utc_now())
    click.echo(f"host {host_id}: server directory {settings.server_dir}", err=True)
    click.echo(f"certificate: {settings.server_cert_path} (from the shared CA)", err=True)
    click.echo(f"run it with: crashveil server run --server-dir {settings.server_dir}", err=True)


@click.command("hosts")
@server_dir_option
def server_hosts(server_dir: str | None) -> None:
    """List the server's hosts with their first and last heartbeat."""
    from crashveil.server.cli.context import open_storage
    from crashveil.server.cluster.hosts import list_hosts

    settings = load_settings(server_dir)
    storage = open_storage(settings)
    try:
        records = list_hosts(storage.engine)
    finally:
        storage.close()
    shown = table("host", "first seen", "last heartbeat")
    for record in records:
        shown.add_row(record.name, f"{record.first_seen:%Y-%m-%d %H:%M}", f"{record.last_heartbeat:%Y-%m-%d %H:%M:%S}")
    print_table(shown)


def _check_host_name(host_id: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", host_id):
        raise click.BadParameter("letters, digits, '.', '_' and '-', at most 96, starting with a letter or digit",
                                 param_hint="--host-name")
