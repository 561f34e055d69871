"""Expiring fields: the loader requires ``expires``, the gate warns and fails, the diff and the
notice show it, and the SDK stops collecting an expired or remotely stopped field."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import PolicyError
from crashveil.gate.check import check_policy
from crashveil.policy import default_policy_path, load_policy
from crashveil.policy.diff import diff_policies
from crashveil.policy.expiry import expired_fields, parse_expiry
from crashveil.policy.notice import render_notice
from crashveil.sdk.remote.config import RemoteConfig

CANARY = "expiry-canary-5J8WQ2"


def policy_text(**expires: str) -> str:
    """The default policy with some fields' ``expires`` replaced."""
    text = default_policy_path().read_text(encoding="utf-8")
    for name, value in expires.items():
        text, count = re.subn(rf'(\[fields\.{name}\]\n(?:[^\n]*\n)*?expires = )"[^"]*"', rf'\g<1>"{value}"', text)
        assert count == 1, name
    return text


def write(tmp_path: Path, text: str, name: str = "crashveil.policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_field_without_expires_is_refused_by_name(tmp_path: Path) -> None:
    text = re.sub(r'(\[fields\.breadcrumbs\]\n(?:[^\n]*\n)*?)expires = "[^"]*"\n', r"\1", policy_text())
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert "fields.breadcrumbs.expires" == caught.value.key_path
    assert "breadcrumbs" in str(caught.value)
    assert load_policy(tmp_path / "crashveil.policy.toml", require_expiry=False).fields["breadcrumbs"].expires == ""


@pytest.mark.parametrize(("value", "problem"), [("never", "only for a field every report carries"),
                                                ("2027-02-30", "not a calendar date"),
                                                ("soon", "wrong form")])
def test_bad_expires_values_are_refused(tmp_path: Path, value: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        load_policy(write(tmp_path, policy_text(message=value)))


def test_dates_and_release_bounds() -> None:
    today = datetime.date(2027, 1, 10)
    assert (True, False) == (parse_expiry("2027-01-10").expired(today=today),
                             parse_expiry("2027-01-11").expired(today=today))
    bound = parse_expiry("release:2.0")
    assert [False, True, True, True, False, False] == [
        bound.expired(today=today, release=r) for r in ("1.9.9", "2.0", "2.0.1rc1", "app@10.1", "nightly", None)]


def test_check_warns_ahead_and_fails_past_expiry_until_renewed(tmp_path: Path) -> None:
    """Within the window a warning; past the date ``field_expired``; a review record dated on
    or after the expiry that lists ``fields.message.expires`` renews it."""
    path = write(tmp_path, policy_text(message="2027-01-10", comment="2027-01-30"))
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    soon = check_policy(path, reviews_dir=reviews, today=datetime.date(2027, 1, 1), expiry_warning_days=10)
    past = check_policy(path, reviews_dir=reviews, today=datetime.date(2027, 1, 10))
    assert ["fields.message.expires"] == [w.path for w in soon.warnings]
    assert "field_expired" not in {p.code for p in soon.problems}
    assert [("field_expired", "fields.message.expires")] == [(p.code, p.path) for p in past.problems
                                                            if p.code.startswith("field_")]
    assert ["fields.comment.expires"] == [w.path for w in past.warnings]  # the policy's own window: 30 days
    (reviews / "renewal.toml").write_text(
        'reviewer = "Dana <d@example.org>"\ndate = 2027-01-10\npolicy_digest = "sha256:' + "0" * 64 + '"\n'
        'reason = "Still needed to fix crashes."\nchanges = ["fields.message.expires"]\n', encoding="utf-8")
    renewed = check_policy(path, reviews_dir=reviews, today=datetime.date(2027, 1, 10))
    assert "field_expired" not in {p.code for p in renewed.problems}
    assert "field_expiring" in json.dumps(soon.to_dict())


def test_diff_lists_an_expiry_change_and_the_notice_shows_it(tmp_path: Path) -> None:
    old = load_policy(write(tmp_path, policy_text(), "old.toml"))
    new = load_policy(write(tmp_path, policy_text(message="2028-05-27"), "new.toml"))
    [change] = diff_policies(old, new).changes
    assert ("fields.message.expires", "expiry_changed", False) == (change.path, change.kind, change.material)
    assert "No longer collected from 2028-05-27 on" in render_notice(new)


def test_sdk_stops_collecting_expired_and_remotely_stopped_fields(make_client: Any, tmp_path: Path) -> None:
    """A field past its date, one past its release bound and one the signed config stops are
    left out of the report the SDK builds (canaries planted in all three)."""
    policy = write(tmp_path, policy_text(message="2020-01-01", breadcrumbs="release:1.0"))
    client = make_client(policy=str(policy), release="app@1.2")
    client.grant("diagnostic")
    assert {"message", "breadcrumbs"} <= expired_fields(client.policy, today=datetime.date.today(),
                                                        release="app@1.2")
    client.remote.config = RemoteConfig(project="demo", stopped_fields=frozenset({"environment"}))
    client.add_breadcrumb(f"clicked {CANARY}", "ui")
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError as exc:
        client.capture_exception(exc)
    assert client.flush(5.0) is True
    [payload] = [json.loads(p) for p in client.transport_for_test.payloads("report")]
    assert (None, None, None, "ValueError") == (payload.get("message"), payload.get("breadcrumbs"),
                                               payload.get("environment"), payload["crash_type"])
    assert CANARY not in json.dumps(payload)


def test_renew_edits_only_expiry_review_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``crashveil policy renew`` keeps every comment and line but three; the diff lists the expiry."""
    from crashveil.cli.app import main

    path = write(tmp_path, policy_text())
    before = path.read_text(encoding="utf-8")
    (tmp_path / "reviews").mkdir()
    (tmp_path / "reviews" / "renewal.md").write_text(
        '+++\nreviewer = "Dana <d@example.org>"\ndate = 2027-05-01\npolicy_digest = "sha256:' + "0" * 64 + '"\n'
        'reason = "Messages still explain most crashes."\n+++\n', encoding="utf-8")
    code = main(["policy", "renew", "message", "--until", "2099-05-27", "--review", "reviews/renewal.md",
                 "--policy", str(path)])
    after = path.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert 0 == code, capsys.readouterr().err
    major, minor, _ = load_policy(write(tmp_path, before, "old.toml")).version.split(".")
    assert [(f'version = "{major}.{minor}.{_}"', f'version = "{major}.{int(minor) + 1}.0"'),
            ('review = "reviews/2026-11-27-initial.md"', 'review = "reviews/renewal.md"'),
            ('expires = "2027-05-27"', 'expires = "2099-05-27"')] == changed
    [change] = diff_policies(load_policy(tmp_path / "old.toml"), load_policy(path)).changes
    assert "fields.message.expires" == change.path
    assert 2 == main(["policy", "renew", "message", "--until", "2001-01-01", "--review", "reviews/renewal.md",
                      "--policy", str(path)])
