"""Consent levels per Sentry DSN key: creating one key never changes another, ``list`` shows
each key's level, ``set-level`` changes one and is audited, and migration 0006 keeps every
existing key at the level it had (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _loading import load
from _migrated import migrated_sqlite
from click.testing import CliRunner

from crashveil.server.cli.sentry_keys import sentry_key_group
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.sentry.keys import SentryKeys
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

from .conftest import event_envelope, python_event  # type: ignore[import-not-found]

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
_TESTS = Path(__file__).resolve().parents[1]




# PostgreSQL from the server tests' fixtures (pytest-postgresql over Debian's binaries).
_server_conftest = load("crashveil_tests_server_conftest", _TESTS / "server" / "conftest.py")
postgresql_proc = _server_conftest.postgresql_proc
pg_template = _server_conftest.pg_template
pg_url = _server_conftest.pg_url


@pytest.fixture
def server_dir(tmp_path: Path, server_maker: Any) -> Path:
    """A server directory the CLI can open (settings file written), project ``demo``."""
    settings, storage = server_maker(tmp_path)
    settings.settings_path.write_text(settings.to_toml())
    storage.close()
    return tmp_path


def _cli(server_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(sentry_key_group, [*args, "--server-dir", str(server_dir)])


def _rows(listing: str) -> list[list[str]]:
    """The rows of ``sentry-key list`` (columns apart by two spaces or more), header left out."""
    return [re.split(r"\s{2,}", line.strip()) for line in listing.splitlines()[1:] if line.strip()]


def _key_of(dsn_output: str) -> str:
    return dsn_output.strip().split("://", 1)[1].split("@", 1)[0]


def test_a_diagnostic_key_leaves_the_crash_key_at_crash(server: Any) -> None:
    """Creating a ``diagnostic`` key does not raise the project's ``crash`` key (it used to)."""
    keys = SentryKeys(server.storage.engine, cache_s=0)
    _, crash_key = keys.create_key("demo", label="crash", level="crash")
    _, diagnostic_key = keys.create_key("demo", label="diag", level="diagnostic")
    levels = (keys.authenticate(server.numeric_id, crash_key), keys.authenticate(server.numeric_id, diagnostic_key),
              keys.authenticate(server.numeric_id, server.key))
    assert ["crash", "diagnostic", None] == [p.level for p in levels if p is not None]


def test_events_are_treated_at_the_level_of_their_key(server: Any) -> None:
    """The same kind of event is stored at ``crash`` through one key, ``diagnostic`` through another."""
    from crashveil.server.db.tables import reports

    keys = SentryKeys(server.storage.engine)
    _, crash_key = keys.create_key("demo", level="crash")
    _, diagnostic_key = keys.create_key("demo", level="diagnostic")
    for key in (crash_key, diagnostic_key):
        body = event_envelope(python_event())
        response = server.client.post(server.envelope_url(), content=body, headers=server.auth(key))
        assert 200 == response.status_code, response.text
    with server.storage.engine.connect() as conn:
        rows = conn.execute(sa.select(reports.c.level).order_by(reports.c.id)).scalars().all()
    assert ["crash", "diagnostic"] == rows


def test_list_shows_each_keys_level(server_dir: Path) -> None:
    """``sentry-key list`` names each key's level; a key without one shows the policy default."""
    plain = _key_of(_cli(server_dir, "create", "demo", "--label", "plain").stdout)
    diag = _key_of(_cli(server_dir, "create", "demo", "--label", "diag", "--level", "diagnostic").stdout)
    rows = _rows(_cli(server_dir, "list", "demo").stdout)
    assert [[plain[:8] + "…", "plain", "crash (default)", "0", "none"],
            [diag[:8] + "…", "diag", "diagnostic", "0", "none"]] == [cols[:5] for cols in rows]


def test_set_level_changes_one_key_and_is_audited(server_dir: Path) -> None:
    """``set-level`` changes that key only and appends ``sentry_key.level`` (from, to) to the
    verified audit trail; an unknown level or key is refused."""
    first = _key_of(_cli(server_dir, "create", "demo", "--label", "a").stdout)
    second = _key_of(_cli(server_dir, "create", "demo", "--label", "b").stdout)
    changed = _cli(server_dir, "set-level", "demo", first[:8], "diagnostic")
    unknown_level = _cli(server_dir, "set-level", "demo", first[:8], "off")
    unknown_key = _cli(server_dir, "set-level", "demo", "00000000", "crash")
    assert (0, 1, 1) == (changed.exit_code, unknown_level.exit_code, unknown_key.exit_code)
    levels = [cols[2] for cols in _rows(_cli(server_dir, "list", "demo").stdout)]
    assert ["diagnostic", "crash (default)"] == levels
    settings = Settings.load(server_dir)
    storage = Storage.open(settings)
    try:
        trail = AuditTrail.for_server_dir(storage.engine, server_dir)
        entries = [(e.action, e.subject, e.details) for e in trail.entries() if e.action.startswith("sentry_key.")]
        verified = trail.verify()
    finally:
        storage.close()
    assert [("sentry_key.create", f"sentry_key:{first[:8]}", {"label": "a", "level": "default"}),
            ("sentry_key.create", f"sentry_key:{second[:8]}", {"label": "b", "level": "default"}),
            ("sentry_key.level", f"sentry_key:{first[:8]}", {"from": "default", "to": "diagnostic"})] == entries
    assert verified.ok


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "levels.db")
    return str(request.getfixturevalue("pg_url"))


def test_migration_0006_keeps_each_keys_level(tmp_path: Path, database_url: str) -> None:
    """Keys made under 0005 (level per project) keep that level after 0006, per project; the
    downgrade gives the project back the level of its newest live key."""
    from alembic import command

    from crashveil.server.db.engine import _alembic_config

    settings = Settings(server_dir=tmp_path, database_url=database_url, sealing_suite="x25519")
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        for name in ("alpha", "beta"):
            storage.create_project(name, now=NOW)
        keys = SentryKeys(storage.engine, cache_s=0)
        made = {name: [keys.create_key(name)[1] for _ in range(2)] for name in ("alpha", "beta")}
        with storage.engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0005")
            conn.execute(sa.text("UPDATE sentry_projects SET level = 'diagnostic' WHERE project_id = 'alpha'"))
            command.upgrade(_alembic_config(conn), "0006")
        after = {name: [keys.authenticate(keys.project_for(name).numeric_id, key).level  # type: ignore[union-attr]
                        for key in made[name]] for name in made}
        keys.set_level("beta", made["beta"][1][:8], "crash")
        with storage.engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0005")
            back = dict(conn.execute(sa.text("SELECT project_id, level FROM sentry_projects")).all())
            command.upgrade(_alembic_config(conn), "heads")
    finally:
        storage.close()
    assert {"alpha": ["diagnostic", "diagnostic"], "beta": [None, None]} == after
    assert {"alpha": "diagnostic", "beta": "crash"} == back
