"""Consent in server mode: the operator of server software grants a level in configuration.

In a web app or API the people whose requests crash are not the ones who run it and cannot
be asked. ``crashveil.init(consent_mode="server", server_level="crash")`` then stands for
their consent, but only as far as the policy allows: its ``[consent]
server_mode_max_level`` (the privacy notice says so; ``crashveil policy diff`` and
``crashveil check`` see a change of it as material). Nothing else changes: the report is
built from the same allowlist at that level and redacted the same way; a request can still
opt out (``integrations/web/_web.py``). No consent file is read or written: the
configuration is the source, so removing it stops reporting at the next start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from crashveil.errors import ConfigError
from crashveil.policy.model import Policy
from crashveil.sdk.consent.store import OFF, ConsentRecord, ConsentStore

__all__ = ["ServerConsent"]


class ServerConsent(ConsentStore):
    """A consent store whose level is the operator's, checked against the policy once."""

    def __init__(self, data_dir: Path, policy: Policy, *, level: str | None,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(data_dir, policy, now=now)
        allowed = policy.server_mode_max_level
        if allowed is None:
            raise ConfigError("consent_mode", f"'server' is not allowed by policy {policy.name!r}",
                              "a policy with [consent] server_mode_max_level")
        if level is None or level not in policy.level_names or policy.rank(level) == 0:
            raise ConfigError("server_level", "is not a consent level above 'off'",
                              ", ".join(name for name in policy.level_names if name != OFF))
        if policy.rank(level) > policy.rank(allowed):
            raise ConfigError("server_level", f"is above what the policy allows in server mode ({allowed!r})",
                              f"a level up to {allowed!r}")
        self._server_level = level

    def record(self) -> ConsentRecord | None:
        return None  # the operator's configuration, not a file

    def level(self) -> str:
        return self._server_level

    def ask_each_time(self) -> bool:
        return False  # nobody to ask

    def needs_prompt(self) -> bool:
        return False

    def policy_changed_materially(self) -> bool:
        return False  # the operator's level applies to the policy in force, checked above

    def allowed_fields(self, level: str) -> tuple[str, ...]:
        return self.policy.fields_at(level)

    def disclosure(self, fingerprint: str) -> str | None:
        return None  # progressive disclosure asks a person: there is none here

    def grant(self, level: str, *, ask_each_time: bool = False) -> ConsentRecord:
        """Only ``off`` (``revoke()``, or an operator's switch at run time): held until the next start."""
        if level != OFF:
            raise ConfigError("level", "cannot be granted in server mode", "server_level=... in crashveil.init()")
        self._server_level = OFF
        policy = self.policy
        return ConsentRecord(level=OFF, granted_at=float(self.now()), policy_version=policy.version,
                             policy_digest=self.digest, policy={})

    def grant_disclosure(self, fingerprint: str, level: str) -> None:
        return None
