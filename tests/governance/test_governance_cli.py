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
