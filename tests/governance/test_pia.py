"""The PIA draft generated from the policy."""

from __future__ import annotations

import dataclasses

from crashveil.cli import main
from crashveil.policy import default_policy
from crashveil.policy.pia import render_pia


def test_pia_lists_every_field_with_retention_and_access() -> None:
    """Each policy field appears in the inventory row with its retention and roles."""
    policy = default_policy()
    text = render_pia(policy)
    missing = [name for name, rule in policy.fields.items()
               if f"| {name} | {rule.sensitivity} | {rule.level} |" not in text]
    assert [] == missing


def test_pia_has_all_sections_and_placeholders() -> None:
    """Inventory, legal basis placeholder, retention, access, risks and sign-off are all there."""
    text = render_pia(default_policy())
    wanted = ["Data inventory", "Legal basis", "## 5. Retention", "## 6. Access", "Risks and mitigations",
              "[TO COMPLETE]", "k = 5"]
    assert [True] * len(wanted) == [w in text for w in wanted]


def test_pia_html_escapes_policy_text() -> None:
    """Markup in a policy's words is escaped in the HTML draft."""
    policy = default_policy()
    policy = dataclasses.replace(policy, notice=dataclasses.replace(policy.notice, app_name="<b>App</b>"))
    html = render_pia(policy, "html")
    assert (False, True) == ("<b>App</b>" in html, "&lt;b&gt;App&lt;/b&gt;" in html)


def test_policy_pia_command_prints_the_draft(capsys) -> None:
    """``crashveil policy pia`` prints the draft."""
    code = main(["policy", "pia", "--format", "md"])
    assert (0, True) == (code, capsys.readouterr().out.startswith("# Privacy impact assessment"))
