"""Key ring: KEK file, rotation without rewriting reports, HPKE and signing key overlap."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.errors import ConfigError, KeyUnavailableError, SealError
from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.db.tables import data_keys, reports
from crashveil.server.keys.crypto import open_report
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.storage.store import Storage

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _store(storage: Storage, report, received_at: datetime = NOW):  # type: ignore[no-untyped-def]
    return storage.store_report("demo", report, origin="crashveil-sdk", received_at=received_at,
                                redaction_hits={}, dropped_fields=())


def test_kek_file_is_private(tmp_path: Path) -> None:
    """The KEK file is created 0600 and refused once others can read it."""
    path = tmp_path / "keys" / "kek.json"
    FileKeyProvider.create(path, now=NOW)
    assert 0o600 == path.stat().st_mode & 0o777
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as caught:
        FileKeyProvider(path)
    assert "mode 0600" == caught.value.expected


def test_wrapped_key_is_bound_to_its_id(tmp_path: Path) -> None:
    """A wrapped key does not unwrap under another key id (it cannot be moved to another day).

    A key row of our own database that does not unwrap is a server fault (503, the sender
    keeps its report), not a bad seal (400)."""
    provider = FileKeyProvider.create(tmp_path / "kek.json", now=NOW)
    kek_id, wrapped = provider.wrap(b"k" * 32, key_id="dek:demo:2026-05-01")
    assert b"k" * 32 == provider.unwrap(kek_id, wrapped, key_id="dek:demo:2026-05-01")
    with pytest.raises(KeyUnavailableError):
        provider.unwrap(kek_id, wrapped, key_id="dek:demo:2026-05-02")


def test_kek_rotation_keeps_everything_readable(storage: Storage, make_report) -> None:
    """After a KEK rotation every detail still decrypts, no report row changed, keys name the new KEK."""
    stored = [make_report(message=f"m{i}") for i in range(3)]
    for day, report in enumerate(stored):
        _store(storage, report, NOW + timedelta(days=day))
    with storage.engine.connect() as conn:
        before = conn.execute(sa.select(reports.c.report_id, reports.c.detail).order_by(reports.c.id)).all()
    old_kek = storage.keys.provider.current_id()
    result = storage.rotate_kek(now=NOW + timedelta(days=5))
    with storage.engine.connect() as conn:
        after = conn.execute(sa.select(reports.c.report_id, reports.c.detail).order_by(reports.c.id)).all()
        kek_ids = set(conn.execute(sa.select(data_keys.c.kek_id)).scalars())
    assert (3, 2) == (result.rewrapped_data_keys, result.rewrapped_project_keys)
    assert [old_kek] == result.retired
    assert before == after
    assert {result.new_kek_id} == kek_ids
    assert stored == [storage.report_detail("demo", r.report_id).report for r in stored]
    assert storage.project("demo", fresh=True) is not None


def test_retired_kek_destroyed_after_keep_period(storage: Storage) -> None:
    """A retired KEK stays for the keep period and is destroyed at the first rotation after it."""
    first = storage.keys.provider.current_id()
    storage.rotate_kek(now=NOW)
    later = storage.rotate_kek(now=NOW + timedelta(days=storage.settings.kek_retired_keep_days + 1))
    assert [first] == later.destroyed_keks
    assert first not in {k.kek_id for k in storage.keys.provider.keys()}


def test_hpke_overlap(storage: Storage) -> None:
    """After rotation reports sealed to the old key open until the overlap ends, then never."""
    old = storage.project("demo").keypairs[0]
    sealed = seal_report(b"payload", old.public_key(), project_id="demo", schema_version=1)
    storage.rotate_project_keys("demo", now=NOW, overlap=timedelta(days=10))
    during = storage.project("demo", fresh=True)
    assert 2 == len(during.keypairs)
    assert old.public_key_string() != during.keypairs[0].public_key_string()
    assert b"payload" == open_report(sealed, during.keypairs, project_id="demo", schema_version=1)

    storage._clock = lambda: NOW + timedelta(days=11)
    after = storage.project("demo", fresh=True)
    assert [during.keypairs[0].public_key_string()] == [k.public_key_string() for k in after.keypairs]
    with pytest.raises(SealError):
        open_report(sealed, after.keypairs, project_id="demo", schema_version=1)
    assert 2 == len(storage.destroy_expired_keys(now=NOW + timedelta(days=11)))
    assert {"destroyed"} == {k.state(NOW + timedelta(days=11)) for k in storage.list_keys("demo")
                             if k.destroyed_at is not None}


def test_signing_key_rotation_signs_with_newest(storage: Storage) -> None:
    """The newest signing key signs; the previous one stays listed during the overlap."""
    old = storage.project("demo").signing_key.public_key_string()
    storage.rotate_project_keys("demo", now=NOW, kinds=("signing",))
    record = storage.project("demo", fresh=True)
    assert old != record.signing_key.public_key_string()
    assert [record.signing_key.public_key_string(), old] == [k.public_key_string() for k in record.signing_keys]


def test_key_ages_listed(storage: Storage) -> None:
    """Every project key is listed with its creation time and state, newest first per kind."""
    storage.rotate_project_keys("demo", now=NOW + timedelta(days=3), overlap=timedelta(days=10))
    listed = [(k.kind, k.state(NOW + timedelta(days=4)), k.created_at) for k in storage.list_keys("demo")]
    assert [("hpke", "current", NOW + timedelta(days=3)), ("hpke", "overlap", NOW),
            ("signing", "current", NOW + timedelta(days=3)), ("signing", "overlap", NOW)] == listed


def test_registered_tables_are_rewrapped(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table registered by another module is rewrapped by KEK rotations, keys unchanged."""
    from crashveil.server.keys import ring as keys

    monkeypatch.setattr(keys, "_WRAPPED_TABLES", list(keys._WRAPPED_TABLES))
    table = sa.Table("extra_keys", sa.MetaData(), sa.Column("name", sa.String(20), primary_key=True),
                     sa.Column("kek_id", sa.String(64)), sa.Column("wrapped_key", sa.LargeBinary()))
    keys.register_wrapped_keys(table, lambda row: f"extra:{row.name}")
    provider = storage.keys.provider
    with storage.engine.begin() as conn:
        table.create(conn)
        kek_id, wrapped = provider.wrap(b"e" * 32, key_id="extra:one")
        conn.execute(table.insert().values(name="one", kek_id=kek_id, wrapped_key=wrapped))
    result = storage.rotate_kek(now=NOW)
    with storage.engine.connect() as conn:
        row = conn.execute(sa.select(table)).one()
    assert (3, result.new_kek_id) == (result.rewrapped_project_keys, row.kek_id)
    assert b"e" * 32 == provider.unwrap(row.kek_id, row.wrapped_key, key_id="extra:one")
