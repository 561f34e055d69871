"""Consent in server mode: the operator's level, bounded by the policy's [consent]; the notice and the gate see it."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import flask
import pytest

import crashveil
from crashveil.errors import ConfigError
from crashveil.policy import default_policy, default_policy_path, load_policy, policy_digest
from crashveil.policy.diff import diff_policies
from crashveil.policy.notice import render_notice

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import CANARIES, assert_no_canary, delivered, reporting


def policy_file(tmp_path: Path, consent: str | None) -> Path:
    """The shipped policy with ``[consent]`` replaced by ``consent`` (None: no server mode)."""
    text = default_policy_path().read_text(encoding="utf-8")
    replacement = "" if consent is None else f'[consent]\nserver_mode_max_level = "{consent}"\n'
    text, count = re.subn(r'\[consent\]\nserver_mode_max_level = "[a-z]+"\n', replacement, text)
    assert 1 == count
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_operator_level_reports_without_a_user_grant(tmp_path: Path, dsn: str, opener: Any) -> None:
    """No consent file, no prompt: the configured level, and the same allowlist (no message at crash)."""
    app = flask.Flask("server_mode")

    @app.get("/items/<item>")
    def item(item: str) -> str:
        raise ValueError(f"no item {item}")

    with reporting(tmp_path, dsn, opener, level=None, consent_mode="server", server_level="crash") as transport:
        assert ("crash", False) == (crashveil.level(), crashveil.needs_prompt())
        assert 500 == app.test_client().get(f"/items/{CANARIES['path']}").status_code
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("crash", "/items/<item>", None) == (report["consent_level"], report["route"], report.get("message"))
    assert not (tmp_path / "data" / "consent.json").exists()


def test_level_above_the_policy_maximum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server_level.*above what the policy allows"):
        crashveil.init(data_dir=tmp_path, consent_mode="server", server_level="diagnostic")


def test_policy_without_server_mode_refuses_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="consent_mode.*not allowed"):
        crashveil.init(data_dir=tmp_path, policy=policy_file(tmp_path, None), consent_mode="server",
                       server_level="crash")


def test_a_raised_maximum_allows_more(tmp_path: Path) -> None:
    crashveil.init(data_dir=tmp_path, policy=policy_file(tmp_path, "diagnostic"), consent_mode="server",
                   server_level="diagnostic")
    assert "diagnostic" == crashveil.level()


@pytest.mark.parametrize(("options", "name"), [({"consent_mode": "server"}, "server_level"),
                                               ({"server_level": "crash"}, "server_level"),
                                               ({"consent_mode": "cloud", "server_level": "crash"}, "consent_mode")])
def test_options_are_checked(tmp_path: Path, options: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        crashveil.init(data_dir=tmp_path, **options)


def test_users_cannot_grant_in_server_mode_but_revoke_stops(tmp_path: Path) -> None:
    crashveil.init(data_dir=tmp_path, consent_mode="server", server_level="crash")
    with pytest.raises(ConfigError, match="server mode"):
        crashveil.grant("diagnostic")
    crashveil.revoke()
    assert "off" == crashveil.level()


def test_notice_says_so_and_the_gate_sees_a_change(tmp_path: Path) -> None:
    """The notice explains server mode; allowing it (or more of it) is a material policy change."""
    notice = render_notice(default_policy())
    assert "choose the level for everyone" in notice and "Send basic crash reports" in notice
    without = load_policy(policy_file(tmp_path, None))
    assert "choose the level for everyone" not in render_notice(without)
    assert [("consent.server_mode_max_level", True)] == [
        (change.path, change.material) for change in diff_policies(without, default_policy()).changes]
    wider = load_policy(policy_file(tmp_path, "diagnostic"))
    assert [True] == [change.material for change in diff_policies(default_policy(), wider).changes]
    assert [False] == [change.material for change in diff_policies(default_policy(), without).changes]


def test_crashveil_check_requires_a_review_for_server_mode(tmp_path: Path) -> None:
    from crashveil.gate.check import check_policy

    app = tmp_path / "app"
    (app / "reviews").mkdir(parents=True)
    shutil.copy(policy_file(tmp_path, None), app / "crashveil.baseline.toml")
    shutil.copy(default_policy_path(), app / "crashveil.policy.toml")
    digest = policy_digest(load_policy(app / "crashveil.baseline.toml"))
    (app / "reviews" / "2026-11-27-initial.md").write_text(
        f'+++\nreviewer = "Dana <dana@example.org>"\ndate = "2026-11-27"\npolicy_digest = "{digest}"\n'
        'reason = "initial"\n+++\n', encoding="utf-8")
    result = check_policy(app / "crashveil.policy.toml")
    assert "consent.server_mode_max_level" in [change.path for change in result.material]
    assert not result.passed
    from crashveil.gate.findings import format_result

    assert "server mode  allowed: operators may grant 'crash'" in format_result(result)
    assert "crash" == result.to_dict()["server_mode_max_level"]


def test_unknown_consent_keys_and_levels_are_policy_errors(tmp_path: Path) -> None:
    from crashveil.errors import PolicyError

    with pytest.raises(PolicyError, match="consent.server_mode_max_level"):
        load_policy(policy_file(tmp_path, "off"))
