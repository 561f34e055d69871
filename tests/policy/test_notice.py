"""The privacy notice is rendered from the policy, for end users, in Markdown and HTML."""

from __future__ import annotations

import tomllib
from html.parser import HTMLParser

from crashveil.cli import main
from crashveil.policy import default_policy, default_policy_path, parse_policy
from crashveil.policy.notice import render_notice


def test_markdown_names_every_level_field_and_retention() -> None:
    """Each level's title and each field's purpose and retention appear in the notice."""
    policy = default_policy()
    text = render_notice(policy)
    for level in policy.levels:
        assert level.title in text
    for rule in policy.fields.values():
        assert rule.purpose in text
    assert "Kept for 30 days" in text
    assert "Stopping and deleting" in text
    assert policy.notice.deletion in text


def test_notice_follows_policy_changes() -> None:
    """A changed retention in the policy shows up in the notice without touching the renderer."""
    doc = tomllib.loads(default_policy_path().read_text())
    doc["fields"]["message"]["retention_days"] = 14
    assert "Kept for 14 days" in render_notice(parse_policy(doc))


def test_html_escapes_policy_text() -> None:
    """Text from the policy file is escaped in the HTML notice."""
    doc = tomllib.loads(default_policy_path().read_text())
    doc["notice"]["app_name"] = "<script>alert(1)</script>"
    html = render_notice(parse_policy(doc), fmt="html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html

    class Collector(HTMLParser):
        tags: list[str] = []

        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            self.tags.append(tag)

    collector = Collector()
    collector.feed(html)
    assert "script" not in collector.tags
    assert "h1" in collector.tags


def test_notice_command_prints_markdown_and_html(capsys) -> None:  # type: ignore[no-untyped-def]
    """`crashveil policy notice` renders both formats."""
    assert 0 == main(["policy", "notice"])
    assert capsys.readouterr().out.startswith("# Crash reports in")
    assert 0 == main(["policy", "notice", "--format", "html"])
    assert capsys.readouterr().out.startswith("<!doctype html>")
