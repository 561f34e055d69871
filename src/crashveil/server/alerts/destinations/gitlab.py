"""Open a GitLab issue per notification: ``POST {api_url}/projects/{id}/issues``.

``api_url`` is ``https://gitlab.com/api/v4`` unless told (a self-managed instance, or a local
receiver in tests); ``project`` is the numeric id or the ``group/name`` path (URL-encoded as
the API wants). The token (project or personal access token with ``api`` scope) is sent as
``PRIVATE-TOKEN``; it is stored sealed and never shown.
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

__all__ = ["GITLAB_API", "GitLabDestination"]

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
