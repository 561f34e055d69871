"""A stored destination (:class:`DestinationRecord`) and the :class:`Destination` it makes.

A record holds its kind's settings in two maps: ``config``, what an administrator may read
(``destination list`` prints it), and ``secrets``, what only a delivery may use (sealed in the
database, never printed). :data:`KIND_SETTINGS` says which key of each kind goes where.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.slack import SlackDestination
from crashveil.server.alerts.destinations.smtp import EmailDestination
from crashveil.server.alerts.destinations.teams import TeamsDestination
from crashveil.server.alerts.destinations.trackers import GITHUB_API, GITLAB_API, GitHubDestination, GitLabDestination
from crashveil.server.alerts.destinations.webhook import WebhookDestination
from crashveil.server.alerts.notification import Destination

__all__ = ["KINDS", "ConfigValue", "DestinationRecord", "SEALED_KEYS", "check_destination_name", "check_name_syntax",
           "make_destination"]

#: A readable setting: text, a number (a port), or a list of text (recipients, labels).
ConfigValue = str | int | list[str]

#: The kinds, in the order ``--kind`` lists them.
KINDS = ("webhook", "slack", "teams", "github", "gitlab", "email")
#: What each kind keeps sealed: a signing secret, a token, a password, and URLs, which can carry
#: a credential (Slack's and Teams' are one; a webhook's may hold one in its path or query).
#: ``config`` then shows the URL's host only.
SEALED_KEYS: Mapping[str, tuple[str, ...]] = {"webhook": ("url", "secret"), "slack": ("url",), "teams": ("url",),
                                              "github": ("token",), "gitlab": ("token",), "email": ("password",)}
#: A ``[forwarding.NAME]`` key of the policy: a TOML bare key, lower case.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class DestinationRecord:
    """One row of ``destinations``, its secrets unsealed (or to be sealed)."""

    project_id: str
    name: str
    kind: str
    config: Mapping[str, ConfigValue]
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    created_at: datetime | None = None

    def text(self, key: str, default: str | None = None) -> str:
        """Setting ``key`` as text (or ``default``); :class:`DestinationError` when missing or not text."""
        value = self.config.get(key, default)
        if not isinstance(value, str) or not value:
            raise DestinationError(f"destination {self.name!r}: setting {key!r} is missing or not text")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.config.get(key)
        return value if isinstance(value, str) and value else None

    def number(self, key: str, default: int) -> int:
        value = self.config.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DestinationError(f"destination {self.name!r}: setting {key!r} must be a whole number")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DestinationError(f"destination {self.name!r}: setting {key!r} must be a list of text")
        return tuple(value)

    def sealed(self, key: str) -> str:
        """Sealed value ``key`` (see :data:`SEALED_KEYS`); :class:`DestinationError` when missing."""
        value = self.secrets.get(key)
        if not value:
            raise DestinationError(f"destination {self.name!r}: no {key} stored")
        return value


def check_name_syntax(name: str) -> str:
    """``name`` if it can be a policy key ``[forwarding.NAME]``: 1-63 of ``a-z 0-9 _ -``."""
    if not _NAME.fullmatch(name):
        raise DestinationError("destination name must be 1-63 characters of a-z, 0-9, '_' and '-', "
                               "starting with a letter or digit")
    return name


def check_destination_name(name: str, allowed_names: Collection[str] | None) -> str:
    """``name`` if the project's policy forwards to it: it must be one of ``allowed_names``,
    the names of the policy's ``[forwarding.NAME]`` entries. None means the policy has no
    ``forwarding`` section to check against (yet): any well-formed name is accepted."""
    check_name_syntax(name)
    if allowed_names is not None and name not in allowed_names:
        raise DestinationError(f"destination {name!r} is not a [forwarding.{name}] entry of the project's policy "
                               f"(add it there first: the policy says what each destination may receive)")
    return name


def _webhook(r: DestinationRecord) -> Destination:
    return WebhookDestination(r.name, r.sealed("url"), r.sealed("secret"))


def _slack(r: DestinationRecord) -> Destination:
    return SlackDestination(r.name, r.sealed("url"))


def _teams(r: DestinationRecord) -> Destination:
    return TeamsDestination(r.name, r.sealed("url"))


def _github(r: DestinationRecord) -> Destination:
    return GitHubDestination(r.name, r.text("repo"), r.sealed("token"), api_url=r.text("api_url", GITHUB_API),
                             labels=r.names("labels"))


def _gitlab(r: DestinationRecord) -> Destination:
    return GitLabDestination(r.name, r.text("project"), r.sealed("token"), api_url=r.text("api_url", GITLAB_API),
                             labels=r.names("labels"))


def _email(r: DestinationRecord) -> Destination:
    security = r.text("security", "starttls")
    return EmailDestination(r.name, r.text("host"), r.text("from"), r.names("to"),
                            port=r.number("port", 465 if security == "ssl" else 587), security=security,
                            username=r.optional_text("username"), password=r.secrets.get("password") or None,
                            ca_file=r.optional_text("ca_file"))


_BUILDERS: Mapping[str, Callable[[DestinationRecord], Destination]] = {
    "webhook": _webhook, "slack": _slack, "teams": _teams, "github": _github, "gitlab": _gitlab, "email": _email}


def make_destination(record: DestinationRecord) -> Destination:
    """The :class:`Destination` a record describes; :class:`DestinationError` names a bad setting."""
    builder = _BUILDERS.get(record.kind)
    if builder is None:
        raise DestinationError(f"destination {record.name!r}: unknown kind (expected one of {', '.join(KINDS)})")
    return builder(record)
