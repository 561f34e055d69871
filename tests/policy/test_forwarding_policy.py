"""``[forwarding.NAME]`` in the policy: only forwardable fields, never report detail; the
notice and ``crashveil check`` see what is forwarded, and forwarding more is material."""

from __future__ import annotations

import copy
import datetime
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import PolicyError
from crashveil.gate.check import check_policy
from crashveil.policy import default_policy, default_policy_path, parse_policy
from crashveil.policy.diff import diff_policies
from crashveil.policy.notice import render_notice

CHAT = {"kind": "slack", "purpose": "Tell the on-call developers a new crash appeared.",
        "fields": ["crash_type", "release"], "review": "reviews/2026-11-27-initial.md"}


def _with_forwarding(**destinations: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(tomllib.loads(default_policy_path().read_text()))
    doc["forwarding"] = destinations
    return doc


def test_default_policy_forwards_nothing_and_marks_only_technical_fields() -> None:
    policy = default_policy()
    forwardable = {name for name, rule in policy.fields.items() if rule.forwardable}
    assert ({}, {"crash_type", "release", "environment", "platform", "error_code"} <= forwardable) == (
        dict(policy.forwarding), True)
    assert not forwardable & {"message", "stack", "breadcrumbs", "install_id", "comment"}


@pytest.mark.parametrize("field", ["message", "install_id", "no_such_field"])
def test_forwarding_a_field_that_is_not_forwardable_names_field_and_destination(field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_with_forwarding(chat={**CHAT, "fields": ["crash_type", field]}))
    assert ("forwarding.chat.fields[1]", True, True) == (
        caught.value.key_path, field in str(caught.value), "'chat'" in str(caught.value))


def test_report_detail_can_never_be_marked_forwardable() -> None:
    doc = _with_forwarding()
    doc["fields"]["breadcrumbs"]["forwardable"] = True
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc)
    assert "fields.breadcrumbs.forwardable" == caught.value.key_path


def test_forwarding_more_is_material_and_the_notice_lists_destinations() -> None:
    base = parse_policy(_with_forwarding(chat=CHAT))
    added = diff_policies(default_policy(), base)
    wider = diff_policies(base, parse_policy(_with_forwarding(chat={**CHAT, "fields": [*CHAT["fields"], "platform"],
                                                                      "title": True})))
    narrower = diff_policies(base, parse_policy(_with_forwarding(chat={**CHAT, "fields": ["crash_type"]})))
    assert ([("forwarding.chat", True)], [("forwarding.chat.fields", True), ("forwarding.chat.title", True)],
            [("forwarding.chat.fields", False)]) == (
        [(c.path, c.material) for c in added.changes], [(c.path, c.material) for c in wider.changes],
        [(c.path, c.material) for c in narrower.changes])
    notice = render_notice(base)
    assert "Alerts sent to other services" in notice and "chat, a Slack chat" in notice
    assert "crash type, release" in notice


def test_check_flags_a_new_destination_as_needing_review(tmp_path: Path) -> None:
    """``crashveil check`` against a reviewed baseline: a new destination is a material change."""
    shutil.copy(default_policy_path(), tmp_path / "crashveil.baseline.toml")
    (tmp_path / "reviews").mkdir()
    from crashveil.policy import load_policy, policy_digest

    digest = policy_digest(load_policy(tmp_path / "crashveil.baseline.toml"))
    (tmp_path / "reviews" / "2026-11-27-initial.md").write_text(
        f'+++\nreviewer = "Dana <dana@example.org>"\ndate = "2026-11-27"\npolicy_digest = "{digest}"\n'
        'reason = "Initial."\n+++\n', encoding="utf-8")
    text = default_policy_path().read_text().replace('version = "1.2.0"', 'version = "1.3.0"')
    text += ('\n[forwarding.chat]\nkind = "slack"\npurpose = "On-call."\nfields = ["crash_type"]\n'
             'review = "reviews/2026-12-07-chat.md"\n')
    (tmp_path / "crashveil.policy.toml").write_text(text, encoding="utf-8")
    result = check_policy(tmp_path / "crashveil.policy.toml", today=datetime.date(2026, 12, 7))
    codes = {(p.code, p.path) for p in result.problems}
    assert {("review_needed", "policy"), ("review_missing", "forwarding.chat.review")} <= codes
    assert any(c.path == "forwarding.chat" and c.material for c in result.changes)
