"""Open an issue per notification in GitHub or GitLab, through their REST APIs.

GitHub: ``POST {api_url}/repos/{owner}/{repo}/issues``. ``api_url`` is
``https://api.github.com`` unless told (GitHub Enterprise Server, or a local receiver in
tests). The token (a fine-grained token with "Issues: write") is sent as
``Authorization: Bearer``.

GitLab: ``POST {api_url}/projects/{id}/issues``. ``api_url`` is ``https://gitlab.com/api/v4``
unless told (a self-managed instance, or a local receiver in tests); ``project`` is the numeric
id or the ``group/name`` path (URL-encoded as the API wants). The token (project or personal
access token with ``api`` scope) is sent as ``PRIVATE-TOKEN``.

Tokens are stored sealed and never shown. Titles and bodies come from ``issue_text``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.http_post import DEFAULT_TIMEOUT_S, check_http_url, check_token, post_json
from crashveil.server.alerts.destinations.issue_text import issue_body, issue_title
from crashveil.server.alerts.notification import DeliveryResult, Notification

__all__ = ["GITHUB_API", "GITLAB_API", "GitHubDestination", "GitLabDestination"]

GITHUB_API = "https://api.github.com"
_REPO = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


@dataclass
class GitHubDestination:
    """Opens an issue in ``repo`` (``owner/name``) for each notification."""

    name: str
    repo: str
    token: str = field(repr=False)
    api_url: str = GITHUB_API
    labels: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "github"

    def __post_init__(self) -> None:
        check_http_url(self.api_url, destination=self.name, setting="api_url")
        check_token(self.token, destination=self.name)
        if not _REPO.fullmatch(self.repo):
            raise DestinationError(f"destination {self.name!r}: repo must be owner/name")

    @property
    def issues_url(self) -> str:
        owner, repo = self.repo.split("/")
        return f"{self.api_url.rstrip('/')}/repos/{quote(owner)}/{quote(repo)}/issues"

    def deliver(self, notification: Notification) -> DeliveryResult:
        payload: dict[str, object] = {"title": issue_title(notification), "body": issue_body(notification)}
        if self.labels:
            payload["labels"] = list(self.labels)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}
        answer = post_json(self.issues_url, json.dumps(payload, ensure_ascii=False).encode(), headers,
                           destination=self.name, timeout_s=self.timeout_s)
        number = answer.json_field("number") if answer.result.ok else None
        if number is None:
            return answer.result
        return DeliveryResult(ok=True, status=answer.result.status, detail=f"opened issue #{number}", retryable=False)

GITLAB_API = "https://gitlab.com/api/v4"
_PROJECT = re.compile(r"[0-9]{1,20}|[A-Za-z0-9_.-]{1,255}(/[A-Za-z0-9_.-]{1,255}){1,20}")


@dataclass
class GitLabDestination:
    """Opens an issue in ``project`` (an id or ``group/name``) for each notification."""

    name: str
    project: str
    token: str = field(repr=False)
    api_url: str = GITLAB_API
    labels: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "gitlab"

    def __post_init__(self) -> None:
        check_http_url(self.api_url, destination=self.name, setting="api_url")
        check_token(self.token, destination=self.name)
        if not _PROJECT.fullmatch(self.project):
            raise DestinationError(f"destination {self.name!r}: project must be a numeric id or group/name")

    @property
    def issues_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/projects/{quote(self.project, safe='')}/issues"

    def deliver(self, notification: Notification) -> DeliveryResult:
        payload: dict[str, object] = {"title": issue_title(notification), "description": issue_body(notification)}
        if self.labels:
            payload["labels"] = ",".join(self.labels)
        answer = post_json(self.issues_url, json.dumps(payload, ensure_ascii=False).encode(),
                           {"PRIVATE-TOKEN": self.token}, destination=self.name, timeout_s=self.timeout_s)
        number = answer.json_field("iid") if answer.result.ok else None
        if number is None:
            return answer.result
        return DeliveryResult(ok=True, status=answer.result.status, detail=f"opened issue #{number}", retryable=False)
