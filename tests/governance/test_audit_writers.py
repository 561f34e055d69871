"""Every governance change is an audit entry: the real CLI against a real server directory,
then ``crashveil audit verify``; and every action of the audit vocabulary has a writer."""

from __future__ import annotations

import ast
import getpass
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import crashveil
from crashveil.cli.app import cli
from crashveil.policy import default_policy_path
from crashveil.server.governance.audit import ACTIONS, AuditTrail

SRC = Path(crashveil.__file__).parent


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Invoke ``crashveil ...`` (the server's click group, in process) on one server directory."""
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("CRASHVEIL_NEW_PASSWORD", "correct horse battery")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert 0 == result.exit_code, result.output
        return result.output

    return invoke


def _trail(server_dir: Path) -> AuditTrail:
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    storage = Storage.open(Settings.load(server_dir, environ={}))
    return AuditTrail.for_server_dir(storage.engine, server_dir)


def test_every_governance_command_writes_its_entry_and_the_trail_verifies(run, tmp_path: Path) -> None:
    """server init, project add, set-policy, keys rotate, sentry-key create/revoke, user
    add/grant/revoke/disable, token create/revoke and retention run each leave an entry with
    the actor (``--actor`` or ``os:<user>``), the target and a summary without secrets."""
    server_dir = tmp_path / "srv"
    run("server", "init", str(server_dir), "--suite", "x25519", "--actor", "alice")
    run("project", "add", "shop", "--actor", "alice")
    policy = tmp_path / "policy.toml"
    policy.write_text(default_policy_path().read_text(encoding="utf-8").replace(
        'version = "1.2.0"', 'version = "1.3.0"', 1), encoding="utf-8")
    run("project", "set-policy", "shop", str(policy), "--actor", "carol")
    run("keys", "rotate", "--project", "shop")
    dsn = run("project", "sentry-key", "create", "shop", "--label", "web").strip().splitlines()[0]
    key = re.match(r"^https://([0-9a-f]+)@", dsn).group(1)  # type: ignore[union-attr]
    run("project", "sentry-key", "revoke", "shop", key[:8], "--actor", "carol")
    run("user", "add", "dana", "--project", "shop", "--role", "developer", "--actor", "bob")
    run("user", "grant", "dana", "shop", "viewer", "--actor", "bob")
    run("user", "revoke", "dana", "shop", "viewer", "--actor", "bob")
    token_out = run("token", "create", "dana", "--name", "ci", "--project", "shop", "--role", "developer",
                    "--actor", "bob")
    token_id = token_out.split("token id: ")[1].split()[0]
    token = token_out.strip().splitlines()[-1]
    run("token", "revoke", token_id, "--actor", "bob")
    run("user", "disable", "dana", "--actor", "bob")
    run("retention", "run", "--actor", "erin")
    verified = run("audit", "verify")

    me = "os:" + re.sub(r"[^A-Za-z0-9_.@+=-]", "_", getpass.getuser())
    entries = _trail(server_dir).entries()
    seen = {(e.action, e.actor, e.project_id) for e in entries}
    expected = {
        ("project.create", "alice", "demo"), ("project.create", "alice", "shop"),
        ("policy.change", "carol", "shop"), ("key.rotate", me, "shop"), ("key.rotate", me, None),
        ("sentry_key.create", me, "shop"), ("sentry_key.revoke", "carol", "shop"),
        ("user.add", "bob", None), ("role.grant", "bob", "shop"), ("role.revoke", "bob", "shop"),
        ("token.create", "bob", None), ("token.revoke", "bob", None), ("user.disable", "bob", None),
        ("retention.run", "erin", None),
    }
    assert (set(), True) == (expected - seen, "intact" in verified), sorted(seen)
    policy_change = next(e for e in entries if e.action == "policy.change")
    assert ("1.2.0", "1.3.0") == (policy_change.details["from_version"], policy_change.details["to_version"])
    assert f"sentry_key:{key[:8]}" == next(e for e in entries if e.action == "sentry_key.create").subject
    text = "\n".join(e.detail + (e.subject or "") for e in entries)
    assert (key not in text, token not in text) == (True, True)


def test_an_actor_that_is_not_an_id_is_refused(run, tmp_path: Path) -> None:
    """``--actor`` must be an id (the audit trail refuses free text): a usage error, no change."""
    result = CliRunner().invoke(cli, ["server", "init", str(tmp_path / "x"), "--actor", "evil\nname"])
    assert (2, False) == (result.exit_code, (tmp_path / "x" / "settings.toml").exists())


def _writers() -> dict[str, list[str]]:
    """Action names passed to an audit writer anywhere in the package: ``<trail>.record(ACTION,
    ...)`` and ``cli.audit.record(storage, ACTION, ...)`` (imported as ``record`` or
    ``audit``), with module-level string constants and ``a if c else b`` resolved."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "audit.py" and path.parent.name == "governance":
            continue  # the vocabulary itself
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}

        def names(node: ast.AST, constants: dict[str, str] = constants) -> list[str]:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return [node.value]
            if isinstance(node, ast.Name) and node.id in constants:
                return [constants[node.id]]
            if isinstance(node, ast.IfExp):
                return names(node.body) + names(node.orelse)
            return []

        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("record", "audit", "reanchor"):
                for arg in node.args[:2]:
                    for name in names(arg):
                        found.setdefault(name, []).append(str(path.relative_to(SRC)))
            for keyword in node.keywords:  # a helper handed the action to write: f(..., action="x.y")
                if keyword.arg == "action":
                    for name in names(keyword.value):
                        found.setdefault(name, []).append(str(path.relative_to(SRC)))
    return found


def test_every_action_of_the_audit_vocabulary_has_a_writer() -> None:
    """Walk ``audit.ACTIONS``: each action is written by some code path (a vocabulary entry
    nothing writes is an audit gap), and nothing writes an action outside the vocabulary."""
    writers = _writers()
    missing = sorted(action for action in ACTIONS if action not in writers)
    unknown = sorted(name for name in writers if re.match(r"^[a-z_]+\.[a-z_.]+$", name) and name not in ACTIONS
                     and any("server/" in p for p in writers[name]))
    assert ([], []) == (missing, unknown), {name: writers[name] for name in unknown}
