"""The user, token, audit and retention commands against a real server directory."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crashveil.cli.app import cli


@pytest.fixture
def run(storage, monkeypatch):
    """Invoke a governance command on the storage fixture's server directory."""
    settings = storage.settings
    settings.settings_path.write_text(settings.to_toml())
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(settings.server_dir))
    monkeypatch.setenv("CRASHVEIL_NEW_PASSWORD", "correct horse battery")
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_user_token_audit_retention_flow(run) -> None:
    """Users are added and granted, a token is minted and revoked, the trail verifies, retention dry-runs."""
    assert 0 == run("user", "add", "dana", "--project", "demo", "--role", "developer")[0]
    code, listing = run("user", "list")
    code_token, token_out = run("token", "create", "dana", "--name", "ci", "--project", "demo", "--role", "developer")
    token_id = token_out.split("token id: ")[1].split()[0]
    revoke_code, _ = run("token", "revoke", token_id)
    verify_code, verify_out = run("audit", "verify")
    dry_code, dry_out = run("retention", "run", "--dry-run")
    report_code, report = run("audit", "report", "--format", "json")
    assert ((0, True), 0, 0, (0, True), (0, True), (0, ["dana"])) == (
        (code, "demo: developer" in listing), code_token, revoke_code, (verify_code, "intact" in verify_out),
        (dry_code, "would delete 0 reports" in dry_out),
        (report_code, [u["name"] for u in json.loads(report[report.index("{"):])["users"]]))


def test_token_beyond_the_users_roles_is_refused(run) -> None:
    """The CLI refuses a token with a role the user does not hold."""
    run("user", "add", "vic", "--project", "demo", "--role", "viewer")
    from crashveil.errors import AccessDenied

    with pytest.raises(AccessDenied):
        run("token", "create", "vic", "--name", "x", "--project", "demo", "--role", "admin")


def test_audit_log_names_users_and_retention_status_in_words(run, storage) -> None:
    """``audit log`` shows a user actor (and subject) by name and a token by its user;
    ``retention status`` says in words whether and when retention ran and what it did."""
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    run("user", "add", "erin", "--project", "demo", "--role", "developer")
    _, never = run("retention", "status")
    trail = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir)
    access = AccessStore(storage.engine, trail)
    access.login("erin", "correct horse battery")
    token_id, _ = access.create_token("erin", "ci", projects=["demo"], roles=["developer"], actor="user:1")
    trail.record("group.status", actor=f"token:{token_id}", project_id="demo", subject="group:1")
    run("retention", "run")
    code, log = run("audit", "log", "--limit", "4")
    _, status = run("retention", "status")
    rows = [line.split("\t") for line in log.splitlines()]
    actors = [row[2] for row in rows]
    assert 0 == code
    assert ["erin", "erin", f"token {token_id} of erin"] == actors[:3], log
    assert "user:1" not in log
    assert never.startswith("retention has never run")
    assert status.startswith("last run just now: deleted 0 reports, stripped 0 details, destroyed 0 day keys")
