"""Slack, Teams, GitHub and GitLab: each delivers to a real local receiver that checks the
payload's shape and the auth header; planted crash strings arrive inert."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.slack import SlackDestination
from crashveil.server.alerts.destinations.teams import TeamsDestination
from crashveil.server.alerts.destinations.trackers import GitHubDestination, GitLabDestination
from crashveil.server.alerts.notification import Notification

#: What must never survive from the canary anywhere: a mention, a bare link to the attacker's
#: host, a line of its own (a header or a quick action).
LIVE = ["@everyone", "http://evil", "\r", "\nBcc", "\n/close"]
#: Slack mrkdwn also reads <!channel>, <url|text> and entities; Markdown reads links, images, HTML.
LIVE_SLACK = [*LIVE, "<!channel>", "<img", "<http"]
LIVE_MARKDOWN = [*LIVE, "<!channel>", "<img", "](http", "!["]


def _strings(value: object) -> list[str]:
    """Every string of a JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _live(texts: list[str], markers: list[str] = LIVE) -> list[str]:
    return sorted({marker for text in texts for marker in markers if marker in text})


def test_slack(receiver: Any, make_notification: Callable[..., Notification], canary: str) -> None:
    result = SlackDestination("chat", f"{receiver.url}/services/T0/B0/x").deliver(make_notification(canary, os="linux"))
    payload = json.loads(receiver.requests[0].body)
    header = payload["blocks"][0]["text"]
    assert (True, "/services/T0/B0/x") == (result.ok, receiver.requests[0].path)
    assert (["header", "section", "section", "actions"], "plain_text") == (
        [b["type"] for b in payload["blocks"]], header["type"])
    assert "https://crash.example/dashboard/projects/demo/groups/42" == payload["blocks"][3]["elements"][0]["url"]
    assert "*os*: linux" == payload["blocks"][2]["text"]["text"]
    assert ([], True) == (_live(_strings(payload), LIVE_SLACK), "&lt;!channel&gt;" in payload["text"])


def test_teams(receiver: Any, make_notification: Callable[..., Notification], canary: str) -> None:
    result = TeamsDestination("chat", f"{receiver.url}/workflows/x").deliver(make_notification(canary, os="linux"))
    payload = json.loads(receiver.requests[0].body)
    card = payload["attachments"][0]["content"]
    kinds = {element["type"] for element in card["body"]}
    runs = [run["text"] for element in card["body"] for run in element["inlines"]]
    assert (True, "message", "AdaptiveCard", {"RichTextBlock"}) == (result.ok, payload["type"], card["type"], kinds)
    assert ["os: ", "linux"] == runs[-2:]
    assert "https://crash.example/dashboard/projects/demo/groups/42" == card["actions"][0]["url"]
    assert [] == _live(_strings(payload))


def _markdown_links(text: str) -> list[str]:
    """Links and images a Markdown renderer would make: [x](y), autolinks <...>, bare URLs."""
    autolinks = re.findall(r"<https?://[^>]*>", text)
    unescaped = re.sub(r"\\.", "", re.sub(r"<https?://[^>]*>", "", text))
    return re.findall(r"\]\(", unescaped) + autolinks + re.findall(r"https?://\S+", unescaped)


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_issue_trackers(kind: str, receiver: Any, make_notification: Callable[..., Notification],
                        canary: str) -> None:
    """The tracker API gets the issue at its path with its auth header; the body's only link
    is the dashboard's, and no crash string makes a mention, image, HTML or quick action."""
    if kind == "github":
        receiver.answer(201, b'{"number": 7, "html_url": "x"}')
        destination: GitHubDestination | GitLabDestination = GitHubDestination(
            "tracker", "acme/app", "ghp_token123", api_url=f"{receiver.url}/api", labels=("crash",))
        path, auth, body_key = "/api/repos/acme/app/issues", ("Authorization", "Bearer ghp_token123"), "body"
    else:
        receiver.answer(201, b'{"iid": 7, "id": 99}')
        destination = GitLabDestination("tracker", "group/app", "glpat-123", api_url=f"{receiver.url}/api/v4")
        path, auth, body_key = "/api/v4/projects/group%2Fapp/issues", ("Private-Token", "glpat-123"), "description"
    result = destination.deliver(make_notification(canary, release="1.2.0"))
    got = receiver.requests[0]
    payload = json.loads(got.body)
    body = payload[body_key]
    assert (True, "opened issue #7", path, auth[1]) == (result.ok, result.detail, got.path, got.headers[auth[0]])
    assert payload["title"].startswith("[crashveil] KeyError ") and "\n" not in payload["title"]
    assert ["<https://crash.example/dashboard/projects/demo/groups/42>"] == _markdown_links(body)
    assert [] == _live([payload["title"]]) + _live([re.sub(r"\\.", "", body)], LIVE_MARKDOWN)  # escapes read
    assert [] == [line for line in body.splitlines() if line.startswith(("/", "#", "!", "<img", "@"))]
    assert "| release | 1\\.2\\.0 |" not in body and "| release | 1.2.0 |" in body


def test_tracker_settings_checked() -> None:
    with pytest.raises(DestinationError, match="repo must be owner/name"):
        GitHubDestination("t", "acme/app/../x", "tok")
    with pytest.raises(DestinationError, match="token is empty or holds spaces"):
        GitLabDestination("t", "12", "tok\r\nX-Evil: 1")
