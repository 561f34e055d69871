"""Token scopes, stored with the token; uses written at most once a minute; the CLI's --scope.
On the server tests' storage (SQLite, and PostgreSQL where it is installed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner

from crashveil.errors import ConfigError, TokenRefused
from crashveil.server.db.governance_tables import api_tokens
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> list[datetime]:
    return [START]


@pytest.fixture
def access(storage: Any, clock: list[datetime]) -> AccessStore:
    trail = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir, now=lambda: clock[0])
    store = AccessStore(storage.engine, trail, now=lambda: clock[0],
                        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    store.add_user("dana", "correct horse battery", actor="cli")
    store.grant("dana", "demo", "developer", actor="cli")
    return store


def _row(access: AccessStore, token_id: str) -> Any:
    with access.engine.connect() as conn:
        return conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).one()


def test_scopes_are_stored_listed_and_returned(access: AccessStore) -> None:
    token_id, token = access.create_token("dana", "ci", projects=["demo"], roles=["developer"], actor="cli",
                                          scopes=["groups:write", "groups:read", "groups:read"])
    (listed,) = access.list_tokens()
    caller = access.authenticate_api(token)
    assert ("groups:read,groups:write", ("groups:read", "groups:write"), frozenset({"groups:read", "groups:write"}),
            frozenset({"developer"})) == (_row(access, token_id).scopes, listed.scopes, caller.scopes,
                                          caller.principal.roles_in("demo"))
    assert {"groups:read", "groups:write"} == set(access.audit.entries()[-1].details["scopes"])


def test_unknown_scope_is_refused_naming_it(access: AccessStore) -> None:
    with pytest.raises(ConfigError, match="'groups:delete' is not a scope"):
        access.create_token("dana", "ci", projects=["demo"], roles=["developer"], actor="cli",
                            scopes=["groups:delete"])


def test_last_use_is_written_at_most_once_a_minute_and_every_use_counted(access: AccessStore,
                                                                        clock: list[datetime]) -> None:
    """Ten uses within a minute write the row once (the first); the uses in between are added
    to ``use_count`` with the next write, a minute later."""
    token_id, token = access.create_token("dana", "ci", projects=["demo"], roles=["developer"], actor="cli")
    access.authenticate_api(token)
    first = _row(access, token_id)
    for _ in range(9):
        clock[0] += timedelta(seconds=5)
        access.authenticate_api(token)
    held = _row(access, token_id)
    clock[0] = START + timedelta(minutes=1, seconds=1)
    access.authenticate_api(token)
    later = _row(access, token_id)
    assert ((START, 1), (START, 1), (clock[0], 11)) == (
        (first.last_used_at, first.use_count), (held.last_used_at, held.use_count),
        (later.last_used_at, later.use_count))


def test_revoked_token_is_refused_as_token_refused(access: AccessStore) -> None:
    token_id, token = access.create_token("dana", "ci", projects=["demo"], roles=["developer"], actor="cli")
    access.revoke_token(token_id, actor="cli")
    with pytest.raises(TokenRefused):
        access.authenticate_api(token)


def test_cli_creates_a_token_with_repeatable_scopes_and_lists_them(storage: Any, monkeypatch: Any) -> None:
    from crashveil.cli.app import cli

    settings = storage.settings
    settings.settings_path.write_text(settings.to_toml())
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(settings.server_dir))
    monkeypatch.setenv("CRASHVEIL_NEW_PASSWORD", "correct horse battery")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    assert 0 == run("user", "add", "dana", "--project", "demo", "--role", "developer").exit_code
    made = run("token", "create", "dana", "--name", "ci", "--project", "demo", "--role", "developer",
               "--scope", "groups:read", "--scope", "groups:write")
    bad = runner.invoke(cli, ["token", "create", "dana", "--name", "x", "--project", "demo", "--role", "developer",
                              "--scope", "everything"])
    listing = run("token", "list").output
    assert (0, True, 2, True) == (made.exit_code, "groups:read,groups:write" in listing, bad.exit_code,
                                  "never used" in listing)
