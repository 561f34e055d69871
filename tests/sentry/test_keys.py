"""DSN keys (hashed, revocable, constant-time check), the ``sentry-key`` CLI group, and the
per-period pseudonym keys of Sentry user ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from crashveil.server.db.sentry_tables import sentry_keys, sentry_pseudonym_keys
from crashveil.server.sentry.keys import PseudonymKeys, SentryKeys, format_dsn

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def test_only_a_hash_of_the_key_is_stored(server: Any) -> None:
    """The database holds the key's SHA-256 and its 8-character prefix, never the key."""
    with server.storage.engine.connect() as conn:
        row = conn.execute(sa.select(sentry_keys)).one()
    files = b"".join(p.read_bytes() for p in server.settings.server_dir.rglob("*") if p.is_file())
    assert (server.key[:8], False) == (row.prefix, server.key.encode() in files)


def test_authenticate_accepts_live_keys_only(server: Any) -> None:
    """The project's live key authenticates; a revoked one and a wrong one do not."""
    keys = SentryKeys(server.storage.engine, cache_s=0)
    _, second = keys.create_key("demo", label="second")
    keys.revoke("demo", server.key[:8])
    assert (None, "demo", None) == (
        keys.authenticate(server.numeric_id, server.key),
        keys.authenticate(server.numeric_id, second).project_id,  # type: ignore[union-attr]
        keys.authenticate(server.numeric_id, second[:31] + ("0" if second[31] != "0" else "1")))


def test_revocation_reaches_a_cached_reader_after_its_ttl(server: Any) -> None:
    """With a 30 s cache, a revoked key still works until the snapshot is 30 s old, then not."""
    clock = [100.0]
    reader = SentryKeys(server.storage.engine, cache_s=30, clock=lambda: clock[0])
    assert reader.authenticate(server.numeric_id, server.key) is not None
    SentryKeys(server.storage.engine).revoke("demo", server.key[:8])
    clock[0] += 31
    assert reader.authenticate(server.numeric_id, server.key) is None


def test_dsn_is_parsed_by_sentry_python(server: Any) -> None:
    """The printed DSN parses in sentry-python to our numeric project id and key."""
    from sentry_sdk.utils import Dsn

    dsn = Dsn(format_dsn(server.key, server.numeric_id, host="127.0.0.1", port=8443))
    assert (str(server.numeric_id), server.key, 8443) == (dsn.project_id, dsn.public_key, dsn.port)


def test_cli_create_list_revoke(tmp_path: Path, server_maker: Any) -> None:
    """``sentry-key create`` prints a DSN, ``list`` shows its prefix, ``revoke`` revokes it."""
    from crashveil.server.cli.sentry_keys import sentry_key_group

    settings, storage = server_maker(tmp_path)
    settings.settings_path.write_text(settings.to_toml())
    storage.close()
    runner = CliRunner()
    args = ["--server-dir", str(tmp_path)]
    created = runner.invoke(sentry_key_group, ["create", "demo", "--level", "diagnostic", *args])
    dsn = created.stdout.splitlines()[0]
    key = dsn.split("://", 1)[1].split("@", 1)[0]
    listed = runner.invoke(sentry_key_group, ["list", "demo", *args])
    revoked = runner.invoke(sentry_key_group, ["revoke", "demo", key[:8], *args])
    again = runner.invoke(sentry_key_group, ["revoke", "demo", key[:8], *args])
    assert (0, f"https://{key}@127.0.0.1:8444/1") == (created.exit_code, dsn)  # the web listener's port
    assert (True, 0, 1) == (listed.stdout.splitlines()[1].startswith(key[:8]), revoked.exit_code, again.exit_code)


def test_cli_refuses_an_unknown_level(tmp_path: Path, server_maker: Any) -> None:
    """``--level`` must be a level of the project's policy above off."""
    from crashveil.server.cli.sentry_keys import sentry_key_group

    settings, storage = server_maker(tmp_path)
    settings.settings_path.write_text(settings.to_toml())
    storage.close()
    result = CliRunner().invoke(sentry_key_group, ["create", "demo", "--level", "off", "--server-dir", str(tmp_path)])
    assert 1 == result.exit_code


def test_pseudonym_is_stable_within_a_period_and_changes_after(server: Any) -> None:
    """One user id gives one pseudonym within a 30-day period and another in the next one."""
    keys = PseudonymKeys(server.storage.engine, server.storage.keys.provider)
    first = keys.pseudonym("demo", "user-1", rotation_days=30, now=NOW)
    same = PseudonymKeys(server.storage.engine, server.storage.keys.provider).pseudonym(
        "demo", "user-1", rotation_days=30, now=NOW)
    later = keys.pseudonym("demo", "user-1", rotation_days=30, now=NOW + timedelta(days=31))
    assert (first, True, 32) == (same, first != later, len(later))


def test_past_period_keys_are_deleted(server: Any) -> None:
    """When a new period's key is made, the older period's key row is gone (forward unlinkability)."""
    keys = PseudonymKeys(server.storage.engine, server.storage.keys.provider)
    keys.pseudonym("demo", "u", rotation_days=30, now=NOW)
    keys.pseudonym("demo", "u", rotation_days=30, now=NOW + timedelta(days=31))
    with server.storage.engine.connect() as conn:
        periods = conn.execute(sa.select(sentry_pseudonym_keys.c.period)).scalars().all()
    assert [PseudonymKeys.period_of(NOW + timedelta(days=31), 30)] == periods


def test_pseudonym_survives_a_kek_rotation(server: Any) -> None:
    """After a KEK rotation the period key still unwraps (and is rewrapped): same pseudonym."""
    before = PseudonymKeys(server.storage.engine, server.storage.keys.provider).pseudonym(
        "demo", "u", rotation_days=30, now=NOW)
    server.storage.rotate_kek(now=NOW)
    after = PseudonymKeys(server.storage.engine, server.storage.keys.provider).pseudonym(
        "demo", "u", rotation_days=30, now=NOW)
    with server.storage.engine.connect() as conn:
        kek_id = conn.execute(sa.select(sentry_pseudonym_keys.c.kek_id)).scalar_one()
    assert (before, server.storage.keys.provider.current_id()) == (after, kek_id)
