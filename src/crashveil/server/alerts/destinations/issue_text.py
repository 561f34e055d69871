"""The title and Markdown body of an issue opened in GitHub or GitLab.

Every crash string goes through :func:`markdown_inert`: no link, image, HTML, mention,
reference or quick action can come from it (a value never starts a line: each line starts
with text of ours). The link to the dashboard is the only link, and it is ours: it is
written as an autolink only if it is a plain http(s) URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crashveil.server.alerts.destinations.inert import markdown_inert, plain_inert
from crashveil.server.alerts.notification import Notification

__all__ = ["issue_body", "issue_title"]

_TITLE_MAX = 200
_VALUE_MAX = 300
_FIELDS_MAX = 30
#: What a dedupe key keeps inside the HTML comment that lets a team search issues by it.
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9:_.-]")


def issue_title(notification: Notification) -> str:
    """``[crashveil] <title>``: plain text on one line (trackers render titles as text)."""
    return f"[crashveil] {plain_inert(notification.title, _TITLE_MAX)}"


def _link(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and not any(c in url for c in " <>\"'`\\"):
        return f"<{url}>"
    return markdown_inert(url, 500)


def issue_body(notification: Notification) -> str:
    """The Markdown description: the summary, the dashboard link, the forwarded fields as a table."""
    lines = [
        f"**crashveil alert** ({markdown_inert(notification.rule, 32)}): {markdown_inert(notification.title, 500)}",
        "",
        f"Summary: {markdown_inert(notification.summary, 1000)}",
        "",
        f"Open in crashveil: {_link(notification.link)}",
        "",
        f"Occurred at: {notification.occurred_at.isoformat()}",
    ]
    if notification.fields:
        lines += ["", "| field | value |", "| --- | --- |"]
        lines += [f"| {markdown_inert(name, 64)} | {markdown_inert(value, _VALUE_MAX)} |"
                  for name, value in sorted(notification.fields.items())[:_FIELDS_MAX]]
    lines += ["", f"<!-- crashveil dedupe key: {_COMMENT_SAFE.sub('', notification.dedupe_key)[:128]} -->"]
    return "\n".join(lines) + "\n"
