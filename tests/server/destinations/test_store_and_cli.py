"""Stored destinations: secrets sealed (never in clear in the database, never printed), the
``crashveil destination`` commands, and the policy check: a destination must be a
``[forwarding.NAME]`` entry of its project's policy, of the kind declared there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crashveil.cli.app import cli
from crashveil.errors import DestinationError
from crashveil.policy import default_policy_path
from crashveil.server.alerts.destinations.records import DestinationRecord, check_destination_name
from crashveil.server.alerts.destinations.store import add_destination, destinations_for, load_destination
from crashveil.server.alerts.destinations.webhook import WebhookDestination, verify_webhook
from crashveil.server.db.tables import destinations
from crashveil.server.storage.store import Storage

HOOK_SECRET = "whsec-planted-5d1f0a7c"
HOOK_PATH = "/in/planted-hook-path-3b9e"
TOKEN = "ghp_planted_token_91c3e"
SLACK_URL = "https://hooks.slack.example/services/T0/B0/planted-slack-path-77aa"


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("srv") / "server"
    result = CliRunner().invoke(cli, ["server", "init", str(directory), "--suite", "x25519"], catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    entries = [("ops-hook", "webhook"), ("tracker", "github"), ("chat", "slack"), ("made-secret", "webhook"),
               ("ftp-hook", "webhook"), ("tracker2", "gitlab"), ("dup-hook", "webhook")]
    policy = directory.parent / "forwarding.policy.toml"
    policy.write_text(default_policy_path().read_text(encoding="utf-8") + "".join(
        f'\n[forwarding.{name}]\nkind = "{kind}"\npurpose = "Tell the team."\nfields = ["crash_type"]\n'
        f'review = "reviews/x.md"\n' for name, kind in entries), encoding="utf-8")
    result = CliRunner().invoke(cli, ["project", "set-policy", "demo", str(policy), "--server-dir", str(directory)])
    assert 0 == result.exit_code, result.output
    return directory


def _run(server_dir: Path, *args: str, code: int = 0) -> str:
    env = {"HOOK_SECRET": HOOK_SECRET, "GH_TOKEN": TOKEN, "SLACK_URL": SLACK_URL}
    result = CliRunner().invoke(cli, ["destination", *args, "--server-dir", str(server_dir)], env=env)
    assert code == result.exit_code, result.output
    return result.output


def test_add_list_test_remove(server_dir: Path, receiver: Any) -> None:
    """``add`` three kinds; ``list`` (text and JSON) shows their settings and no secret; the
    database holds none in clear; ``test`` sends a signed notification; ``remove`` deletes."""
    _run(server_dir, "add", "ops-hook", "--project", "demo", "--kind", "webhook", "--url", f"{receiver.url}{HOOK_PATH}",
         "--secret-env", "HOOK_SECRET")
    _run(server_dir, "add", "tracker", "--project", "demo", "--kind", "github", "--repo", "acme/app",
         "--secret-env", "GH_TOKEN")
    _run(server_dir, "add", "chat", "--project", "demo", "--kind", "slack", "--secret-env", "SLACK_URL")
    listed = _run(server_dir, "list") + _run(server_dir, "list", "--format", "json")
    dump = b"".join(path.read_bytes() for path in server_dir.glob("crashveil.db*"))
    tested = _run(server_dir, "test", "ops-hook", "--project", "demo")
    got = receiver.requests[0]
    verify_webhook(HOOK_SECRET, got.headers, got.body)
    _run(server_dir, "remove", "chat", "--project", "demo")
    after = _run(server_dir, "list")
    assert ["chat", "ops-hook", "tracker"] == sorted(d["name"] for d in json.loads(listed[listed.index("["):]))
    assert {"repo=acme/app", "host=hooks.slack.example", "host=127.0.0.1"} <= set(listed.split())
    assert [] == [s for s in (HOOK_SECRET, HOOK_PATH, TOKEN, "planted-slack-path") if s in listed or s.encode() in dump]
    assert tested.startswith("ok=true status=200 retryable=false")
    assert "crashveil test notification" in got.body.decode()
    assert ("chat" not in after, "tracker" in after) == (True, True)


def test_webhook_secret_made_when_none_given(server_dir: Path) -> None:
    """Without ``--secret-env`` a signing secret is made and printed once (stdout: scripts keep it)."""
    result = CliRunner().invoke(cli, ["destination", "add", "made-secret", "--project", "demo", "--kind", "webhook",
                                      "--url", "https://hooks.example/in", "--server-dir", str(server_dir)])
    assert 0 == result.exit_code and len(result.stdout.strip()) >= 40
    assert result.stdout.strip() not in _run(server_dir, "list")


@pytest.mark.parametrize(("args", "message", "code"), [
    (["add", "Bad Name", "--kind", "webhook", "--url", "https://h.example/"], "destination name must be", 1),
    (["add", "ftp-hook", "--kind", "webhook", "--url", "ftp://h.example/"], "must be an http:// or https:// URL", 1),
    (["add", "tracker2", "--kind", "gitlab", "--repo", "7"], "needs --secret-env", 2),
    (["add", "dup-hook", "--kind", "webhook", "--url", "https://h.example/"], "already has a destination", 1),
    (["test", "nothing-here"], "has no destination", 1),
    (["add", "not-in-policy", "--kind", "webhook", "--url", "https://h.example/"],
     "not a [forwarding.not-in-policy]", 1),
    (["add", "tracker2", "--kind", "webhook", "--url", "https://h.example/"], "declared as kind 'gitlab'", 1),
])
def test_refusals(server_dir: Path, args: list[str], message: str, code: int) -> None:
    if "dup-hook" in args:
        _run(server_dir, *args, "--project", "demo")
    assert message in _run(server_dir, *args, "--project", "demo", code=code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # plain Core: SQLite suffices, cheaply
def test_sealed_secrets_bind_to_their_row(storage: Storage) -> None:
    """``destinations_for`` unseals the secret; a sealed value copied to another row does not open."""
    add_destination(storage, DestinationRecord("demo", "hook-a", "webhook", {"host": "a.example"},
                                               {"url": "https://a.example/", "secret": HOOK_SECRET}))
    add_destination(storage, DestinationRecord("demo", "hook-b", "webhook", {"host": "b.example"},
                                               {"url": "https://b.example/", "secret": "other"}))
    made = destinations_for(storage, "demo")
    with storage.engine.begin() as conn:
        sealed = conn.execute(sa.select(destinations.c.sealed_secrets).where(destinations.c.name == "hook-a")).scalar()
        conn.execute(destinations.update().where(destinations.c.name == "hook-b").values(sealed_secrets=sealed))
    with pytest.raises(DestinationError, match="do not open"):
        load_destination(storage, "demo", "hook-b")
    assert [("hook-a", HOOK_SECRET), ("hook-b", "other")] == [
        (d.name, d.secret) for d in made if isinstance(d, WebhookDestination)]


def test_check_destination_name() -> None:
    """No forwarding section yet (None): any well-formed name; with one: only its names."""
    assert "ops" == check_destination_name("ops", None) == check_destination_name("ops", {"ops", "mail"})
    with pytest.raises(DestinationError, match=r"not a \[forwarding.chat\] entry"):
        check_destination_name("chat", {"ops"})
    with pytest.raises(DestinationError, match="destination name must be"):
        check_destination_name("Ops Hook", None)
