"""The policy as frozen dataclasses: what may be collected, why, at which consent level,
for how long, and who may see it.

The policy file (TOML, see ``loader.py``) is parsed into these objects once per process and
passed along. Every consumer (the SDK's allowlist filter, the server's validation and
retention, the roles, the privacy notice and the CI gate) reads this model; none keeps its
own list of fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ROLES",
    "SENSITIVITY_CLASSES",
    "FieldRule",
    "ConsentLevel",
    "RedactionSettings",
    "RateOverride",
    "SamplingSettings",
    "LimitSettings",
    "AggregationSettings",
    "KeyPeriods",
    "NoticeSettings",
    "AdoptionRule",
    "Policy",
]

#: Roles a field may be shown to. The server enforces them (viewer sees aggregates only).
ROLES: tuple[str, ...] = ("viewer", "developer", "privacy-officer", "admin")

#: Sensitivity classes, from least to most sensitive, with their meaning for a reviewer.
SENSITIVITY_CLASSES: Mapping[str, str] = {
    "technical": "describes the software, not the person (crash type, release, stack)",
    "quasi-identifier": "harmless alone, identifying in combination (OS version, coarse time)",
    "pseudonymous": "links reports of one installation without naming anyone",
    "free-text": "text that may carry personal data even after redaction (messages, comments)",
}


@dataclass(frozen=True)
class FieldRule:
    """One report field as the policy declares it."""

    name: str
    purpose: str
    sensitivity: str
    level: str
    retention_days: int
    access: tuple[str, ...]
    review: str
    description: str = ""
    #: For a field of keyed values (``tags``): the keys it may carry; every other key is dropped.
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentLevel:
    """A consent level the user can choose; ``rank`` orders them (``off`` is 0)."""

    name: str
    rank: int
    title: str
    description: str


@dataclass(frozen=True)
class RedactionSettings:
    detectors: tuple[str, ...]
    placeholders: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RateOverride:
    """A sampling rate or limit that applies to one release pattern and/or one cohort."""

    release: str | None
    cohort: str | None
    value: float


@dataclass(frozen=True)
class SamplingSettings:
    rate: float
    overrides: tuple[RateOverride, ...] = ()


@dataclass(frozen=True)
class LimitSettings:
    reports_per_hour: int
    reports_per_day: int
    dedupe_window_s: int
    queue_max_reports: int
    queue_max_bytes: int
    queue_max_age_days: int
    overrides: tuple[RateOverride, ...] = ()


@dataclass(frozen=True)
class AggregationSettings:
    min_k: int
    dp_epsilon_per_day: float
    rollup_retention_days: int
    #: k of the quasi-identifier combinations stored per pseudonym period (``None``: ``min_k``).
    quasi_identifier_min_k: int | None = None

    @property
    def quasi_k(self) -> int:
        """How many installations must share a stored quasi-identifier combination in a period."""
        return self.quasi_identifier_min_k if self.quasi_identifier_min_k is not None else self.min_k


@dataclass(frozen=True)
class KeyPeriods:
    pseudonym_rotation_days: int
    data_key_days: int
    kek_cryptoperiod_days: int
    hpke_key_cryptoperiod_days: int
    signing_key_cryptoperiod_days: int


@dataclass(frozen=True)
class NoticeSettings:
    """Words for the user-facing privacy notice."""

    app_name: str
    controller: str
    contact: str
    deletion: str


@dataclass(frozen=True)
class AdoptionRule:
    """The daily adoption ping (``[adoption]``): not a report field but a message of its own.

    At most once per installation, release and UTC day, an app whose user granted ``level``
    (or more) says "this installation ran this release today": the release, the day and the
    install pseudonym, nothing else. The server keeps only the count of distinct
    installations per release and day (``retention_days``), the denominator of the releases
    page's crash-free rate and adoption. ``access``: who sees those counts.
    """

    purpose: str
    level: str
    retention_days: int
    access: tuple[str, ...]
    review: str


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with ``crashveil.policy.load_policy``."""

    name: str
    version: str
    retention_ceiling_days: int
    levels: tuple[ConsentLevel, ...]
    fields: Mapping[str, FieldRule]
    redaction: RedactionSettings
    sampling: SamplingSettings
    limits: LimitSettings
    aggregation: AggregationSettings
    keys: KeyPeriods
    notice: NoticeSettings
    source: str = "<policy>"
    #: The highest level an operator may grant for everyone in server mode (``[consent]``:
    #: server software, where the people in a crash are not the ones running the app); None:
    #: the policy does not allow server mode.
    server_mode_max_level: str | None = None
    #: The daily adoption ping (``[adoption]``); None: the policy does not allow it, nothing is sent.
    adoption: AdoptionRule | None = None

    # -- consent levels ------------------------------------------------------------------
    def level(self, name: str) -> ConsentLevel:
        """The consent level called ``name``; KeyError if the policy has none."""
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    def rank(self, name: str) -> int:
        return self.level(name).rank

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def fields_at(self, level: str) -> tuple[str, ...]:
        """Names of the fields a report may carry at consent ``level`` (the allowlist)."""
        rank = self.rank(level)
        if rank == 0:
            return ()
        return tuple(name for name, rule in self.fields.items() if self.rank(rule.level) <= rank)

    def allows(self, level: str, field_name: str) -> bool:
        rule = self.fields.get(field_name)
        if rule is None:
            return False
        rank = self.rank(level)
        return rank > 0 and self.rank(rule.level) <= rank

    def fields_for_role(self, role: str) -> tuple[str, ...]:
        """Fields a user holding ``role`` may see in an individual report."""
        return tuple(name for name, rule in self.fields.items() if role in rule.access)
