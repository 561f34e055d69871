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
    "FORWARDING_KINDS",
    "ForwardingRule",
    "FeedbackRule",
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
    #: May this field ever be forwarded to a destination (``[forwarding.NAME] fields``)?
    #: Only fields describing the software, never individual report detail.
    forwardable: bool = False
    #: When the field stops being collected unless renewed (``policy/expiry.py``: a date,
    #: ``release:X.Y`` or ``never``); empty only in a policy stored before expiry existed.
    expires: str = ""


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
    """``[aggregation]``. The public summary's settings are optional as written (``None``:
    absent, so a policy's digest does not change for keys it never had); the properties
    give the values in force. A policy with only the old ``dp_epsilon_per_day`` gets the
    yearly bound ``min(365 * dp_epsilon_per_day, 10)``: never more than basic composition
    of its daily budget over a year allowed, never more than the new default."""

    min_k: int
    dp_epsilon_per_day: float | None
    rollup_retention_days: int
    window_days: int | None = None
    dp_epsilon_per_year: float | None = None
    dp_delta: float | None = None
    #: k of the quasi-identifier combinations stored per pseudonym period (``None``: ``min_k``).
    quasi_identifier_min_k: int | None = None

    @property
    def quasi_k(self) -> int:
        """How many installations must share a stored quasi-identifier combination in a period."""
        return self.quasi_identifier_min_k if self.quasi_identifier_min_k is not None else self.min_k

    @property
    def publication_window_days(self) -> int:
        """Days per public-summary window (default a week)."""
        return self.window_days if self.window_days is not None else DEFAULT_WINDOW_DAYS

    @property
    def yearly_epsilon(self) -> float:
        """The bound on the privacy loss per installation over any 365 days."""
        if self.dp_epsilon_per_year is not None:
            return self.dp_epsilon_per_year
        assert self.dp_epsilon_per_day is not None  # the loader requires one of the two
        return min(365 * self.dp_epsilon_per_day, DEFAULT_EPSILON_PER_YEAR)

    @property
    def yearly_delta(self) -> float:
        """The delta of :attr:`yearly_epsilon`."""
        return self.dp_delta if self.dp_delta is not None else DEFAULT_DELTA_PER_YEAR


#: Defaults of the public summary's ``[aggregation]`` settings.
DEFAULT_WINDOW_DAYS = 7
DEFAULT_EPSILON_PER_YEAR = 10.0
DEFAULT_DELTA_PER_YEAR = 1e-6


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


#: What a destination is: a signed webhook, e-mail, a chat or an issue tracker.
FORWARDING_KINDS: tuple[str, ...] = ("webhook", "email", "slack", "teams", "github", "gitlab")


@dataclass(frozen=True)
class ForwardingRule:
    """A destination alerts may be forwarded to (``[forwarding.NAME]``) and what it may receive.

    ``fields``: forwardable report fields (``FieldRule.forwardable``) whose group-level value
    the destination may see (``crash_type``, ``release``...). ``title``: whether it may see
    the group's (redacted) title; without it the title is made of the forwarded fields only.
    """

    name: str
    kind: str
    purpose: str
    fields: tuple[str, ...]
    review: str
    title: bool = False


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
    #: Where alerts may go (``[forwarding.NAME]``), by destination name; empty: nowhere.
    forwarding: Mapping[str, ForwardingRule] = field(default_factory=dict)
    #: ``[policy] expiry_warning_days``: how long before a field expires ``crashveil check``
    #: warns; None: not set (the gate's default, ``gate/expiry.py``).
    expiry_warning_days: int | None = None
    #: The privacy feedback channel (``[feedback]``); None: the app offers none, nothing is sent.
    feedback: FeedbackRule | None = None

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


@dataclass(frozen=True)
class FeedbackRule:
    """The privacy feedback channel (``[feedback]``): a message of the user's own, not a report field.

    The user picks one of ``topics`` and writes at most ``max_chars`` characters, redacted on
    the device and again on the server. Allowed at any consent level (even ``off``: it is the
    user's explicit act; nothing else is sent). Never linked to reports unless the user asks.
    The server keeps it, encrypted, with the privacy officer's reply for ``retention_days``;
    ``access``: the roles that read and answer it.
    """

    purpose: str
    topics: tuple[str, ...]
    max_chars: int
    retention_days: int
    access: tuple[str, ...]
    review: str
