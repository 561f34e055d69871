"""The user's consent, on disk in the app's data dir, bound to the policy it was given for.

The record holds the level granted, when, whether the user wants to be asked for each crash,
the per-crash upgrades granted through progressive disclosure, and the policy the user saw:
its version, digest and canonical form. Keeping the canonical form lets us rebuild that
policy and compare it with the current one through ``crashveil.policy.diff.diff_policies``:

- same digest, or only non-material changes: the consent stands;
- a material change (a new field, a field moved to a lower level, longer retention, wider
  access ...): :meth:`ConsentStore.needs_prompt` is true again, and until the user answers,
  reports carry only fields whose rules did not change and that both policies allow at the
  granted level. The user is never held to terms they did not see.

No decision means level ``off`` and no file at all. An explicit "no" is recorded (so the app
does not ask again), as a file that holds nothing but the decision.
"""

from __future__ import annotations

import time

from crashveil._frozen import Frozen
from crashveil.errors import ConfigError
from crashveil.sdk.consent.pseudonym import write_private_file

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from crashveil.policy.model import Policy
    from crashveil.policy.shipped import PolicyFacts

__all__ = ["ConsentRecord", "ConsentStore", "policy_from_canonical", "OFF"]

OFF = "off"
_FORMAT = 1
_RECORD_FIELDS = ("level", "granted_at", "policy_version", "policy_digest", "policy", "ask_each_time",
                  "disclosures")


class ConsentRecord(Frozen):
    """What the user decided, and under which policy.

    ``policy`` is the canonical form of the policy the user saw; ``disclosures`` maps a crash
    fingerprint to the level the user agreed to for that one crash (progressive disclosure).
    Immutable, compared by value. A plain class rather than a frozen dataclass: reading the
    record is part of every ``init()`` with consent, which then imports no ``dataclasses``.
    """

    __slots__ = _RECORD_FIELDS
    _hidden = ("policy",)  # long, and says nothing the digest does not

    level: str
    granted_at: float
    policy_version: str
    policy_digest: str
    policy: dict[str, Any]
    ask_each_time: bool
    disclosures: dict[str, str]

    def __init__(self, level: str, granted_at: float, policy_version: str, policy_digest: str,
                 policy: dict[str, Any], ask_each_time: bool = False,
                 disclosures: dict[str, str] | None = None) -> None:
        super().__init__(level, granted_at, policy_version, policy_digest, policy, ask_each_time,
                         {} if disclosures is None else disclosures)

    __hash__ = None  # type: ignore[assignment]  # holds dicts

    def to_json(self) -> bytes:
        import json

        return json.dumps({"format": _FORMAT, "level": self.level, "granted_at": self.granted_at,
                           "policy_version": self.policy_version, "policy_digest": self.policy_digest,
                           "ask_each_time": self.ask_each_time, "disclosures": self.disclosures,
                           "policy": self.policy}, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ConsentRecord:
        import json

        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            raise ValueError("not a consent record")
        disclosures = raw.get("disclosures") or {}
        return cls(level=str(raw["level"]), granted_at=float(raw["granted_at"]),
                   policy_version=str(raw["policy_version"]), policy_digest=str(raw["policy_digest"]),
                   policy=dict(raw["policy"]), ask_each_time=bool(raw.get("ask_each_time", False)),
                   disclosures={str(k): str(v) for k, v in dict(disclosures).items()})


class ConsentStore:
    """Reads and writes the consent record of one app (``<data_dir>/consent.json``)."""

    def __init__(self, data_dir: Path, policy: Policy | Callable[[], Policy], *,
                 now: Callable[[], float] = time.time,
                 facts: Callable[[], PolicyFacts | None] | None = None) -> None:
        """``policy`` is the policy in force, or a function returning it when first needed.

        With a function (what ``init()`` passes for the shipped policy), reading a missing or
        an ``off`` record parses no policy: with consent off, ``init()`` stays cheap.

        ``facts`` (with a function ``policy`` only) returns the pre-computed
        :class:`~crashveil.policy.shipped.PolicyFacts` of that policy, or None when there are
        none: level names, digest, canonical form and allowlists are then read from them, so
        ``init()`` and ``grant()`` with consent build no ``Policy`` either. A material policy
        change (the digest differs from the record's) still builds it, to compare.
        """
        self.path = data_dir / "consent.json"
        self._policy: Policy | None = None
        self._policy_source: Callable[[], Policy] | None = None
        if callable(policy):
            self._policy_source = policy
        else:
            self._policy = policy
        self._facts_source = facts if callable(policy) else None
        self._facts: PolicyFacts | None = None
        self._digest: str | None = None
        self._canonical: dict[str, Any] | None = None
        self.now = now
        self._record: ConsentRecord | None = None
        self._loaded = False
        self._material: bool | None = None

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            assert self._policy_source is not None
            self._policy = self._policy_source()
        return self._policy

    def _shipped_facts(self) -> PolicyFacts | None:
        """The pre-computed facts of the policy in force, if it has them (asked once)."""
        source = self._facts_source
        if source is not None:
            self._facts = source()  # two threads may both ask: the same answer, once more
            self._facts_source = None
        return self._facts

    def _view(self) -> Policy | PolicyFacts:
        """What answers questions about levels and allowlists: the policy if it is in memory,
        else its pre-computed facts if it has them, else the policy (built now)."""
        if self._policy is None:
            facts = self._shipped_facts()
            if facts is not None:
                return facts
        return self.policy

    @property
    def digest(self) -> str:
        """The digest of the policy in force (computed on first need)."""
        if self._digest is None:
            facts = self._shipped_facts()
            if facts is not None:
                self._digest = facts.digest
            else:
                from crashveil.policy.digest import canonical_digest

                self._digest = canonical_digest(self._canonical_policy())
        return self._digest

    def _canonical_policy(self) -> dict[str, Any]:
        """``canonical_policy(self.policy)``, made once (the digest and each grant need it)."""
        if self._canonical is None:
            facts = self._shipped_facts()
            if facts is not None:
                self._canonical = facts.canonical  # shared, never mutated (as the record's)
            else:
                from crashveil.policy.digest import canonical_policy

                self._canonical = canonical_policy(self.policy)
        return self._canonical

    def _off_without_policy(self, record: ConsentRecord | None) -> bool:
        """True when the answer is ``off`` whatever the policy says, so it need not be read.

        No record, or a recorded "no", under the lazily read shipped policy (which, like
        every loaded policy, has the level ``off``). An explicit policy is asked as before.
        """
        return self._policy is None and (record is None or record.level == OFF)

    # -- reading -------------------------------------------------------------------------
    def record(self) -> ConsentRecord | None:
        """The stored record, or None when the user never decided (or it is unreadable)."""
        if not self._loaded:
            self._loaded = True
            try:
                self._record = ConsentRecord.from_json(self.path.read_bytes())
            except FileNotFoundError:
                self._record = None
            except (ValueError, KeyError, TypeError):
                # A damaged record is no consent: ask again rather than guess.
                self._record = None
        return self._record

    def level(self) -> str:
        """The level granted, ``off`` if none (or if the policy no longer has that level)."""
        record = self.record()
        if self._off_without_policy(record):
            return OFF
        if record is None or record.level not in self._view().level_names:
            return OFF
        return record.level

    def ask_each_time(self) -> bool:
        record = self.record()
        return bool(record and record.ask_each_time and self.level() != OFF)

    def policy_changed_materially(self) -> bool:
        """True when the policy now in force differs materially from the one consented to."""
        record = self.record()
        if record is None or record.policy_digest == self.digest:
            return False
        if self._material is None:
            try:
                from crashveil.policy.diff import diff_policies

                self._material = diff_policies(policy_from_canonical(record.policy), self.policy).needs_review
            except Exception:  # noqa: BLE001 - cannot compare: treat as a change the user must see
                self._material = True  # cannot compare: treat as a change the user must see
        return self._material

    def needs_prompt(self) -> bool:
        """True when the app should ask: no decision yet, or the policy changed materially."""
        record = self.record()
        if record is None:
            return True
        if self._off_without_policy(record):
            return False  # a recorded "no" (the shipped policy has the level 'off')
        if record.level not in self._view().level_names:
            return True
        if record.level == OFF:
            return False  # a "no" stands whatever the policy says: nothing is collected
        return self.policy_changed_materially()

    def allowed_fields(self, level: str) -> tuple[str, ...]:
        """Fields a report may carry at ``level`` under the terms the user actually saw."""
        fields = self._view().fields_at(level)
        record = self.record()
        if record is None or not self.policy_changed_materially():
            return fields
        try:
            old = policy_from_canonical(record.policy)
            old_fields = set(old.fields_at(level)) if level in old.level_names else set()
        except Exception:  # noqa: BLE001 - an unreadable old policy: every field counts as new
            old, old_fields = None, set()

        def same(name: str) -> bool:
            if old is None or name not in old_fields:
                return False
            a, b = old.fields[name], self.policy.fields[name]
            return (a.level, a.retention_days, set(a.access)) == (b.level, b.retention_days, set(b.access))

        return tuple(name for name in fields if same(name))

    def disclosure(self, fingerprint: str) -> str | None:
        """The level the user agreed to for this one crash, if any."""
        record = self.record()
        if record is None or self.needs_prompt():
            return None
        level = record.disclosures.get(fingerprint)
        return level if level in self._view().level_names else None

    # -- writing -------------------------------------------------------------------------
    def grant(self, level: str, *, ask_each_time: bool = False) -> ConsentRecord:
        """Record the user's choice of ``level`` under the current policy.

        Raises:
            ConfigError: ``level`` is not a level of the policy.
        """
        policy = self._view()
        if level not in policy.level_names:
            raise ConfigError("level", f"is not a consent level of policy {policy.name!r}",
                              f"one of: {', '.join(policy.level_names)}")
        record = ConsentRecord(level=level, granted_at=float(self.now()), policy_version=policy.version,
                               policy_digest=self.digest, policy=self._canonical_policy(),
                               ask_each_time=bool(ask_each_time) and level != OFF)
        self._write(record)
        return record

    def grant_disclosure(self, fingerprint: str, level: str) -> None:
        """Remember that the user agreed to send ``level`` for crash ``fingerprint``."""
        record = self.record()
        if record is None or level not in self._view().level_names:
            return
        disclosures = dict(record.disclosures)
        disclosures[fingerprint] = level
        while len(disclosures) > 100:  # bounded: oldest entries go first (dicts keep order)
            disclosures.pop(next(iter(disclosures)))
        self._write(ConsentRecord(level=record.level, granted_at=record.granted_at,
                                  policy_version=record.policy_version, policy_digest=record.policy_digest,
                                  policy=record.policy, ask_each_time=record.ask_each_time,
                                  disclosures=disclosures))

    def _write(self, record: ConsentRecord) -> None:
        write_private_file(self.path, record.to_json())
        self._record = record
        self._loaded = True
        self._material = None


def policy_from_canonical(data: dict[str, Any]) -> Policy:
    """Rebuild a ``Policy`` from ``canonical_policy(policy)`` (the dataclass dict)."""
    from crashveil.policy.model import (
        AdoptionRule,
        AggregationSettings,
        ConsentLevel,
        FeedbackRule,
        FieldRule,
        KeyPeriods,
        LimitSettings,
        NoticeSettings,
        Policy,
        RateOverride,
        RedactionSettings,
        SamplingSettings,
    )

    def overrides(items: list[dict[str, Any]]) -> tuple[RateOverride, ...]:
        return tuple(RateOverride(**item) for item in items)

    limits = dict(data["limits"])
    limits["overrides"] = overrides(limits.get("overrides", []))
    sampling = dict(data["sampling"])
    return Policy(
        name=data["name"],
        version=data["version"],
        retention_ceiling_days=data["retention_ceiling_days"],
        levels=tuple(ConsentLevel(**level) for level in data["levels"]),
        fields={name: FieldRule(**{**rule, "access": tuple(rule["access"])}) for name, rule in data["fields"].items()},
        redaction=RedactionSettings(detectors=tuple(data["redaction"]["detectors"]),
                                    placeholders=dict(data["redaction"].get("placeholders", {}))),
        sampling=SamplingSettings(rate=sampling["rate"], overrides=overrides(sampling.get("overrides", []))),
        limits=LimitSettings(**limits),
        aggregation=AggregationSettings(**{"dp_epsilon_per_day": None, **data["aggregation"]}),
        keys=KeyPeriods(**data["keys"]),
        notice=NoticeSettings(**data["notice"]),
        server_mode_max_level=data.get("server_mode_max_level"),
        adoption=AdoptionRule(**{**adoption, "access": tuple(adoption["access"])})
        if (adoption := data.get("adoption")) is not None else None,
        expiry_warning_days=data.get("expiry_warning_days"),
        feedback=FeedbackRule(**{**feedback, "topics": tuple(feedback["topics"]), "access": tuple(feedback["access"])})
        if (feedback := data.get("feedback")) is not None else None,
    )
