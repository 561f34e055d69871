"""``server add-host`` makes a working second host over one PostgreSQL: shared KEK and CA,
its own certificate, registered; both hosts serve; retention runs on one of them."""

from __future__ import annotations

import ssl
import stat
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.server.cluster.hosts import list_hosts
from crashveil.server.db.governance_tables import retention_runs

from .conftest import run_cli, servers

pytestmark = pytest.mark.postgres


def _loose_files(root: Path) -> list[str]:
    """Files and directories that anyone but the owner may read (the kit holds the KEK and the CA key)."""
    return [str(p) for p in root.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]


def _post(server: object, server_dir: object, sealer: object) -> int:
    context = ssl.create_default_context(cafile=str(server_dir.ca_pem))  # type: ignore[attr-defined]
    context.load_cert_chain(str(server_dir.client_cert), str(server_dir.client_key))  # type: ignore[attr-defined]
    answer = servers.post_sealed(context, server.port, sealer.seal(sealer.report()))  # type: ignore[attr-defined]
    return int(answer.status)


def test_add_host_makes_a_second_host_of_the_same_server(tmp_path: Path, pg_url: str) -> None:
    first_dir = servers.init_server_dir(tmp_path / "a", database_url=pg_url)
    done = run_cli("server", "add-host", "--from", str(first_dir.path), "--out", str(tmp_path / "b"),
                   "--host-name", "second")
    assert 0 == done.returncode, done.stderr
    kek = (tmp_path / "a" / "keys" / "kek.json").read_text()
    b = tmp_path / "b"
    assert ("", False, [], True, True, False) == (
        done.stdout, any(line in done.stderr for line in kek.splitlines() if len(line) > 20), _loose_files(b),
        (b / "tls" / "ca.pem").read_bytes() == (tmp_path / "a" / "tls" / "ca.pem").read_bytes(),
        (b / "keys" / "kek.json").read_text() == kek,
        (b / "tls" / "server.pem").read_bytes() == (tmp_path / "a" / "tls" / "server.pem").read_bytes())
    again = run_cli("server", "add-host", "--from", str(first_dir.path), "--out", str(tmp_path / "c"),
                    "--host-name", "second")
    assert (1, True, False) == (again.returncode, "is already a host of this server" in again.stderr,
                                (tmp_path / "c").exists()), again.stderr

    second_dir = servers.ServerDir(b, first_dir.client_cert, first_dir.client_key, pg_url)
    first = servers.Server(first_dir, tmp_path / "a.log").start()
    try:
        second = servers.Server(second_dir, tmp_path / "b.log").start()
        try:
            sealer = servers.Sealer(first_dir)
            assert (201, 201) == (_post(first, first_dir, sealer), _post(second, second_dir, sealer))
            assert 2 == len(servers.stored_rows(first_dir))
            _assert_one_retention_run(first_dir)
        finally:
            second.stop()
    finally:
        first.stop()
    listed = run_cli("server", "hosts", "--server-dir", str(first_dir.path), env={"CRASHVEIL_DATABASE_URL": pg_url})
    assert (0, True) == (listed.returncode, "second" in listed.stdout), listed.stderr


def _assert_one_retention_run(server_dir: object) -> None:
    """Both hosts beat; the retention lease let exactly one of them run it."""
    storage = server_dir.storage()  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 30
        while True:
            names = {host.name for host in list_hosts(storage.engine)}
            with storage.engine.connect() as conn:
                runs = conn.execute(sa.select(sa.func.count()).select_from(retention_runs)).scalar_one()
            if "second" in names and len(names) >= 2 and runs >= 1:
                break
            assert time.monotonic() < deadline, (names, runs)
            time.sleep(0.1)
        assert 1 == runs
    finally:
        storage.close()
