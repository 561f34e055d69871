"""``crashveil server backup`` of a serving server, and ``server restore`` elsewhere: reports
(their details still decrypt), users, the audit chain and every key survive, on SQLite and on
PostgreSQL; the restored trail says it was restored, and from when. A wrong passphrase, a
damaged archive or a non-empty target get one line, exit code 1, and nothing written."""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli, servers

KEY_FILES = ("settings.toml", "keys/kek.json", "keys/audit_ed25519.key", "keys/dashboard.secret", "tls/ca.key",
             "tls/ca.pem", "tls/server.key", "tls/server.pem", "clients/load-client.key", "clients/load-client.pem")


def post_reports(server: Any, count: int, *, tag: str) -> list[str]:
    """Post ``count`` sealed reports; their report ids (all answered 201)."""
    sealer = servers.Sealer(server.dir)
    context = servers.transport_for(server).ssl_context()
    ids = []
    for index in range(count):
        report = sealer.report(function=f"{tag}{index}", message=f"{tag} message {index}")
        answer = servers.post_sealed(context, server.port, sealer.seal(report))
        assert 201 == answer.status, answer
        ids.append(report.report_id)
    return ids


def _messages(server_dir: Any, report_ids: list[str]) -> list[str | None]:
    storage = server_dir.storage()
    try:
        found = [storage.report_detail("demo", rid) for rid in report_ids]
    finally:
        storage.close()
    return [None if item is None else item.report.message for item in found]


def _key_bytes(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in KEY_FILES}


def _audit_entries(server_dir: Any) -> list[Any]:
    from crashveil.server.governance.audit import AuditTrail

    storage = server_dir.storage()
    try:
        return AuditTrail.for_server_dir(storage.engine, server_dir.path).entries()
    finally:
        storage.close()


def _ready(server: Any) -> tuple[int, dict[str, Any]]:
    import http.client

    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    connection = http.client.HTTPSConnection("127.0.0.1", server.web_port, context=context, timeout=10)
    try:
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_round_trip_of_a_serving_server(tmp_path: Path, database: str | None, request: pytest.FixtureRequest) -> None:
    """Backup while serving, one more report after it, restore into a new directory (and database):
    the five reports of the backup and nothing after, details decrypt, alice and the keys are
    there, `audit verify` passes and names the restore; the restored server serves old clients."""
    source = servers.init_server_dir(tmp_path / "srv", database_url=database)
    run_cli("user", "add", "alice", "--server-dir", str(source.path), env={"CRASHVEIL_NEW_PASSWORD": "alice-pw-12345"})
    server = servers.Server(source, tmp_path / "server.log").start()
    archive = tmp_path / "backups" / "srv.cvbak"
    archive.parent.mkdir()
    try:
        kept = post_reports(server, 5, tag="kept")
        before = run_cli("audit", "verify", "--server-dir", str(source.path)).stdout
        made = run_cli("server", "backup", str(archive), "--server-dir", str(source.path))
        later = post_reports(server, 1, tag="later")
    finally:
        assert 0 == server.stop()
    assert "backup: " in made.stdout and archive.is_file() and (archive.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in archive.parent.iterdir()] == ["srv.cvbak"]  # no temporary left beside it
    assert b"kept message" not in archive.read_bytes()

    target_db = request.getfixturevalue("empty_pg") if database else None
    target = tmp_path / "restored"
    restored = run_cli("server", "restore", str(archive), "--into", str(target), "--actor", "ops-alice",
                       *(("--database", target_db) if target_db else ()))
    assert "re-anchors the checkpoint" in restored.stdout
    copy = servers.ServerDir(target, target / "clients" / "load-client.pem", target / "clients" / "load-client.key",
                             target_db)

    assert sorted(r[0] for r in servers.stored_rows(copy)) == sorted(kept)
    assert [f"kept message {i}" for i in range(5)] == _messages(copy, kept)
    assert [] == servers.consistency_problems(copy)
    assert later[0] not in {r[0] for r in servers.stored_rows(copy)}
    changed = {name for name, data in _key_bytes(source.path).items() if _key_bytes(target)[name] != data}
    assert changed == (set() if database is None else {"settings.toml"})  # --database rewrote it
    assert "alice" in run_cli("user", "list", "--server-dir", str(target)).stdout

    verified = run_cli("audit", "verify", "--server-dir", str(target)).stdout
    last = _audit_entries(copy)[-1]
    manifest_time = last.details["backup_created_at"]
    assert (last.action, last.actor) == ("server.restore", "ops-alice")
    assert f"server.restore at {last.at} by ops-alice (backup of {manifest_time}" in verified
    assert int(before.split(" entries")[0].split()[-1]) <= last.details["backup_audit_seq"] < last.seq

    again = servers.Server(copy, tmp_path / "restored.log").start()
    try:
        assert 1 == len(post_reports(again, 1, tag="after-restore"))  # the old client certificate and keys work
        status, body = _ready(again)
        assert (200, "ready", None) == (status, body["status"], body.get("warnings"))
    finally:
        again.stop()


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> tuple[Any, Path]:
    """A server directory (not serving) and its backup."""
    source = servers.init_server_dir(tmp_path / "srv")
    archive = tmp_path / "srv.cvbak"
    run_cli("server", "backup", str(archive), "--server-dir", str(source.path))
    return source, archive


def _refused(args: list[str], **env: str) -> str:
    done = run_cli(*args, env=env, check=False)
    assert 1 == done.returncode, done
    lines = done.stderr.strip().splitlines()
    assert 1 == len(lines) and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_wrong_passphrase_or_damaged_archive_writes_nothing(tmp_path: Path, sqlite_archive: tuple[Any, Path]) -> None:
    """One line each, exit 1, and the target directory is never created (nor anything beside it)."""
    _, archive = sqlite_archive
    data = archive.read_bytes()
    truncated, flipped = tmp_path / "cut.cvbak", tmp_path / "flip.cvbak"
    truncated.write_bytes(data[: len(data) - 40])
    flipped.write_bytes(data[:300] + bytes([data[300] ^ 1]) + data[301:])
    before = sorted(os.listdir(tmp_path))
    target = str(tmp_path / "new")
    lines = [_refused(["server", "restore", str(archive), "--into", target], CRASHVEIL_BACKUP_PASSPHRASE="wrong"),
             _refused(["server", "restore", str(truncated), "--into", target]),
             _refused(["server", "restore", str(flipped), "--into", target])]
    assert ["wrong passphrase", "truncated", "corrupted at byte"] == [
        next(word for word in ("wrong passphrase", "truncated", "corrupted at byte") if word in line)
        for line in lines]
    assert before == sorted(os.listdir(tmp_path))


def test_restore_refuses_a_non_empty_target_without_force(tmp_path: Path, sqlite_archive: tuple[Any, Path]) -> None:
    """A non-empty directory is left alone; with --force it is moved aside, never deleted."""
    source, archive = sqlite_archive
    line = _refused(["server", "restore", str(archive), "--into", str(source.path)])
    assert "is not empty (add --force" in line
    forced = run_cli("server", "restore", str(archive), "--into", str(source.path), "--force").stdout
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("srv.before-restore-")]
    assert 1 == len(aside) and (aside[0] / "settings.toml").is_file() and "previous directory kept" in forced
    assert "server.restore" in run_cli("audit", "verify", "--server-dir", str(source.path)).stdout


def test_passphrase_never_a_plain_argument_and_needed_without_a_terminal(tmp_path: Path) -> None:
    """No --passphrase option exists; without file, variable or terminal the command says how."""
    source = servers.init_server_dir(tmp_path / "srv")
    no_option = run_cli("server", "backup", str(tmp_path / "b"), "--server-dir", str(source.path),
                        "--passphrase", "x", check=False)
    missing = _refused(["server", "backup", str(tmp_path / "b"), "--server-dir", str(source.path)],
                       CRASHVEIL_BACKUP_PASSPHRASE="")
    assert 2 == no_option.returncode and "--passphrase-file" in missing
    pass_file = tmp_path / "pass"
    pass_file.write_text("from a file\n")
    run_cli("server", "backup", str(tmp_path / "b"), "--server-dir", str(source.path), "--passphrase-file",
            str(pass_file), env={"CRASHVEIL_BACKUP_PASSPHRASE": ""})
    assert "wrong passphrase" in _refused(["server", "restore", str(tmp_path / "b"), "--into", str(tmp_path / "r")])
