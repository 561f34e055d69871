"""KEK sets from a file, an environment variable or a command; a key this server lacks is 503.

Real files, a real subprocess for the command provider, real databases (SQLite and
PostgreSQL) for the readiness check and rotation. The clock of the command provider is a
parameter, so its cache needs no sleep.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.errors import ConfigError, KekRolloutError, KeyUnavailableError, SealError
from crashveil.server.db.tables import data_keys, kek_hosts, project_keys
from crashveil.server.http.errors import error_response
from crashveil.server.http.readiness import keys_check
from crashveil.server.keys.hosts import lagging_hosts, record_heartbeat
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.keys.kek_sources import CommandKeyProvider, EnvKeyProvider, provider_from_settings
from crashveil.server.keys.shared_secrets import shared_material
from crashveil.server.storage.store import Storage

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _set_file(tmp_path: Path, name: str = "kek.json") -> tuple[Path, FileKeyProvider]:
    path = tmp_path / name
    return path, FileKeyProvider.create(path, now=NOW)


def test_unknown_kek_is_a_server_fault_and_a_purged_one_is_gone(tmp_path: Path) -> None:
    """A KEK id the set lacks: KeyUnavailableError (503), naming the key and KEK ids and no key;
    a KEK this file destroyed (purge): SealError, as before (crypto-shredding)."""
    path, provider = _set_file(tmp_path)
    old = provider.current_id()
    kek_id, wrapped = provider.wrap(b"k" * 32, key_id="dek:demo:2026-05-01")
    _, other = _set_file(tmp_path, "other.json")
    with pytest.raises(KeyUnavailableError) as caught:
        other.unwrap(kek_id, wrapped, key_id="dek:demo:2026-05-01")
    assert ("dek:demo:2026-05-01", old) == (caught.value.key_id, caught.value.kek_id)
    secret = json.loads(path.read_text())["keys"][old]["key"]
    assert secret not in str(caught.value)
    provider.rotate(now=NOW)
    provider.retire(old, now=NOW)
    assert [old] == provider.purge(retired_before=NOW + timedelta(seconds=1))
    with pytest.raises(SealError):
        provider.unwrap(kek_id, wrapped, key_id="dek:demo:2026-05-01")


def test_key_unavailable_is_503_with_retry_after_and_a_bad_seal_stays_400() -> None:
    """The map: a key this server lacks keeps the report (503 + Retry-After); a bad seal is still 400."""
    missing, code = error_response(KeyUnavailableError("dek:demo:2026-05-01", "kek-x", "is missing"))
    bad, bad_code = error_response(SealError("could not open the sealed report"))
    assert (503, "key_unavailable", "30") == (missing.status_code, code, missing.headers["retry-after"])
    assert b"dek:demo" not in missing.body and b"kek-x" not in missing.body
    assert (400, "unsealable") == (bad.status_code, bad_code)


def test_file_set_copied_from_another_host_is_picked_up_without_restart(tmp_path: Path) -> None:
    """Host A rotates its file; host B, whose file is older, answers KeyUnavailable until the
    operator copies A's file over B's, then unwraps with no new provider (no restart)."""
    path_a, host_a = _set_file(tmp_path, "a.json")
    path_b = tmp_path / "b.json"
    shutil.copy2(path_a, path_b)
    host_b = FileKeyProvider(path_b)
    host_a.rotate(now=NOW + timedelta(days=1))
    kek_id, wrapped = host_a.wrap(b"n" * 32, key_id="pk:hpke-1")
    with pytest.raises(KeyUnavailableError):
        host_b.unwrap(kek_id, wrapped, key_id="pk:hpke-1")
    shutil.copy2(path_a, path_b.with_suffix(".tmp"))
    path_b.with_suffix(".tmp").replace(path_b)
    assert b"n" * 32 == host_b.unwrap(kek_id, wrapped, key_id="pk:hpke-1")


def test_env_set_holds_current_and_previous(tmp_path: Path) -> None:
    """The variable holds a KEK set: keys wrapped under either KEK unwrap; rotate names the current."""
    path, provider = _set_file(tmp_path)
    old = provider.current_id()
    old_wrap = provider.wrap(b"o" * 32, key_id="dek:a")
    new = provider.rotate(now=NOW + timedelta(days=1))
    env = EnvKeyProvider("KEKS", {"KEKS": path.read_text()})
    assert b"o" * 32 == env.unwrap(*old_wrap, key_id="dek:a")
    assert (new, new) == (env.current_id(), env.rotate(now=NOW))
    assert {old, new} == {info.kek_id for info in env.keys()}
    with pytest.raises(ConfigError) as caught:
        EnvKeyProvider("KEKS", {})
    assert "KEKS" == caught.value.key


def test_command_set_is_cached_refreshed_on_a_miss_and_never_printed(tmp_path: Path) -> None:
    """The command's set is reused for the TTL; an unknown KEK id runs it again (after 5 s at
    most once); a failing command is named in the error, its output (keys) never."""
    path, provider = _set_file(tmp_path)
    counter = tmp_path / "runs"
    script = tmp_path / "print_keks.py"
    script.write_text("import sys, pathlib\n"
                      f"c = pathlib.Path({str(counter)!r}); c.write_text(str(int(c.read_text() or 0) + 1) "
                      "if c.exists() else '1')\n"
                      f"sys.stdout.write(pathlib.Path({str(path)!r}).read_text())\n"
                      "sys.exit(int(pathlib.Path(sys.argv[1]).exists()))\n")
    fail_flag = tmp_path / "fail"
    clock = Clock()
    command = CommandKeyProvider((sys.executable, str(script), str(fail_flag)), ttl_s=300, clock=clock)
    first = command.current_id()
    command.current_id()
    assert "1" == counter.read_text()
    new = provider.rotate(now=NOW + timedelta(days=1))
    kek_id, wrapped = provider.wrap(b"z" * 32, key_id="dek:b")
    clock.now += 6  # past the miss interval, well inside the TTL
    assert b"z" * 32 == command.unwrap(kek_id, wrapped, key_id="dek:b")
    assert ("2", new) == (counter.read_text(), command.current_id())
    fail_flag.touch()
    clock.now += 301
    assert new == command.current_id()  # the last good set keeps serving
    with pytest.raises(ConfigError) as caught:
        CommandKeyProvider((sys.executable, str(script), str(fail_flag)), ttl_s=300, clock=clock)
    secrets_in_file = [entry["key"] for entry in json.loads(path.read_text())["keys"].values()]
    assert "exited with status 1" in str(caught.value) and str(script) in str(caught.value)
    assert not any(secret in str(caught.value) for secret in secrets_in_file)
    assert first != new


def test_settings_pick_the_provider(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """kek_provider names the source; kek_file moves the file; shared_material names what a new host needs."""
    other = tmp_path / "elsewhere" / "kek.json"
    other.parent.mkdir()
    shutil.copy2(settings.kek_path, other)
    moved = type(settings)(**{**settings.__dict__, "kek_file": str(other)})
    assert isinstance(provider_from_settings(moved), FileKeyProvider)
    material = shared_material(moved)
    assert other in material.files and settings.ca_key_path in material.files
    assert "kek_provider" in material.settings
    env = type(settings)(**{**settings.__dict__, "kek_provider": "env"})
    assert isinstance(provider_from_settings(env, environ={"CRASHVEIL_KEK_SET": other.read_text()}), EnvKeyProvider)
    with pytest.raises(ConfigError):
        type(settings)(**{**settings.__dict__, "kek_provider": "command"}).validate()


def test_readiness_names_a_key_wrapped_under_a_kek_this_host_lacks(storage: Storage, make_report,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    """A host whose KEK set lacks the KEK of a stored key fails ``keys`` naming the key id (no
    secret), and passes again once the set arrives; a failed unwrap is retried by the check."""
    storage.store_report("demo", make_report(), origin="crashveil-sdk", received_at=NOW, redaction_hits={},
                         dropped_fields=())
    path = storage.settings.kek_path
    before = path.read_bytes()
    storage.rotate_kek(now=NOW + timedelta(days=1))
    after = path.read_bytes()
    path.write_bytes(before)  # this host still has the old set
    host_b = Storage.open(storage.settings, clock=lambda: NOW)
    try:
        check = keys_check(host_b)
        result = check()
        with host_b.engine.connect() as conn:
            key_id = conn.execute(sa.select(data_keys.c.key_id)).scalar_one()
        assert (False, True) == (result.ok, key_id in result.detail or "pk:" in result.detail)
        assert "lacks" in result.detail and '"key"' not in result.detail
        with pytest.raises(KeyUnavailableError):
            host_b.project("demo", fresh=True)
        path.write_bytes(after)
        assert check().ok
        assert host_b.project("demo", fresh=True) is not None
    finally:
        host_b.close()


def test_rotation_waits_for_live_hosts_and_names_the_one_that_lags(storage: Storage) -> None:
    """A live host whose set lacks the new KEK: nothing is rewrapped or retired and the error
    names it; once its heartbeat holds the KEK, the same command finishes the rotation."""
    quick = type(storage.settings)(**{**storage.settings.__dict__, "kek_heartbeat_s": 0.2, "host_id": "host-a"})
    storage.settings = quick
    old = storage.keys.provider.current_id()
    record_heartbeat(storage.engine, storage.keys.provider, host="host-b", process_id="host-b:1",
                     now=datetime.now(UTC))
    with pytest.raises(KekRolloutError) as caught:
        storage.rotate_kek(now=NOW + timedelta(days=1))
    new = storage.keys.provider.current_id()
    assert (["host-b"], new) == (caught.value.lagging, caught.value.kek_id)
    assert "host-b" in str(caught.value)
    with storage.engine.connect() as conn:
        assert {old} == set(conn.execute(sa.select(project_keys.c.kek_id)).scalars())  # nothing rewrapped
    assert [old] == [k.kek_id for k in storage.keys.provider.keys() if not k.current and k.retired_at is None]
    record_heartbeat(storage.engine, storage.keys.provider, host="host-b", process_id="host-b:1",
                     now=datetime.now(UTC))
    result = storage.rotate_kek(now=NOW + timedelta(days=1))
    assert (new, [old], True) == (result.new_kek_id, result.retired, result.resumed)
    assert [] == lagging_hosts(storage.engine, new, now=datetime.now(UTC), live=timedelta(seconds=60))
    with storage.engine.connect() as conn:
        assert 1 == conn.execute(sa.select(sa.func.count()).select_from(kek_hosts)).scalar_one()
