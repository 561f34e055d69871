"""Compare two policies and list the changes a privacy reviewer must look at.

A change is *material* when it lets more data out, keeps it longer, shows it to more people
or weakens a protection: a new field, a field moved to a lower consent level, longer
retention, wider access, a lower k, a larger epsilon, longer key periods, a higher sampling
rate or looser limits, a detector switched off. Material changes need a review (``crashveil
check``) and a new policy version; a material change without a version bump is an error.
Non-material changes (a field removed, shorter retention, reworded text) are listed too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from crashveil.policy.digest import policy_digest
from crashveil.policy.model import Policy

__all__ = ["Change", "PolicyDiff", "diff_policies", "format_diff"]


@dataclass(frozen=True)


class Change:
    """One difference; ``path`` is the policy key it concerns."""

    path: str
    kind: str
    detail: str
    material: bool


#: How the comparison steps report a change (``list.append`` of the diff's changes).
_Add = Callable[[Change], None]


@dataclass(frozen=True)


class PolicyDiff:
    old_version: str
    new_version: str
    old_digest: str
    new_digest: str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def material(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.material)

    @property
    def needs_review(self) -> bool:
        return bool(self.material)

    @property
    def version_error(self) -> str | None:
        """Why the versions are wrong, when a material change came without a version bump."""
        if self.needs_review and _version_key(self.new_version) <= _version_key(self.old_version):
            return (f"material changes but policy.version did not increase "
                    f"({self.old_version} -> {self.new_version})")
        return None


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """All changes from ``old`` to ``new``, material ones flagged."""
    changes: list[Change] = []
    add = changes.append
    _field_changes(add, old, new)
    _level_changes(add, old, new)
    _aggregation_and_key_changes(add, old, new)
    _sampling_and_limit_changes(add, old, new)
    _redaction_and_notice_changes(add, old, new)
    _adoption_changes(add, old, new)
    _forwarding_changes(add, old, new)
    _feedback_changes(add, old, new)
    return PolicyDiff(old_version=old.version, new_version=new.version, old_digest=policy_digest(old),
                      new_digest=policy_digest(new), changes=tuple(changes))


def _field_changes(add: _Add, old: Policy, new: Policy) -> None:
    """Fields added or removed, then each kept field's level, retention, access, sensitivity, purpose."""
    for name in sorted(set(new.fields) - set(old.fields)):
        rule = new.fields[name]
        add(Change(f"fields.{name}", "field_added",
                   f"new field collected from level '{rule.level}', kept {rule.retention_days} days", True))
    for name in sorted(set(old.fields) - set(new.fields)):
        add(Change(f"fields.{name}", "field_removed", "field no longer collected", False))
    for name in sorted(set(old.fields) & set(new.fields)):
        before, after = old.fields[name], new.fields[name]
        path = f"fields.{name}"
        old_rank, new_rank = _rank(old, before.level), _rank(new, after.level)
        if new_rank != old_rank or before.level != after.level:
            add(Change(f"{path}.level", "level_changed", f"'{before.level}' -> '{after.level}'", new_rank < old_rank))
        if after.retention_days != before.retention_days:
            add(Change(f"{path}.retention_days", "retention_changed",
                       f"{before.retention_days} -> {after.retention_days} days",
                       after.retention_days > before.retention_days))
        widened = sorted(set(after.access) - set(before.access))
        narrowed = sorted(set(before.access) - set(after.access))
        if widened:
            add(Change(f"{path}.access", "access_widened", f"now also visible to {', '.join(widened)}", True))
        if narrowed:
            add(Change(f"{path}.access", "access_narrowed", f"no longer visible to {', '.join(narrowed)}", False))
        added_keys = sorted(set(after.keys) - set(before.keys))
        if added_keys:
            add(Change(f"{path}.keys", "keys_added", f"now also keeps {', '.join(added_keys)}", True))
        removed_keys = sorted(set(before.keys) - set(after.keys))
        if removed_keys:
            add(Change(f"{path}.keys", "keys_removed", f"no longer keeps {', '.join(removed_keys)}", False))
        if after.sensitivity != before.sensitivity:
            add(Change(f"{path}.sensitivity", "sensitivity_changed",
                       f"'{before.sensitivity}' -> '{after.sensitivity}'", True))
        if after.purpose != before.purpose:
            add(Change(f"{path}.purpose", "purpose_changed", "the stated purpose changed", True))
        if after.expires != before.expires:  # a renewal is reviewed by the gate (gate/expiry.py), not re-consented
            add(Change(f"{path}.expires", "expiry_changed", f"{before.expires or 'not set'} -> {after.expires}", False))


def _level_changes(add: _Add, old: Policy, new: Policy) -> None:
    """Consent levels added or removed (both material); server mode's ceiling (material when wider)."""
    old_levels = {level.name: level.rank for level in old.levels}
    new_levels = {level.name: level.rank for level in new.levels}
    for name in sorted(set(new_levels) - set(old_levels)):
        add(Change(f"levels.{name}", "level_added", f"new consent level (rank {new_levels[name]})", True))
    for name in sorted(set(old_levels) - set(new_levels)):
        add(Change(f"levels.{name}", "level_removed", "consent level removed", True))
    if old.server_mode_max_level != new.server_mode_max_level:
        wider = new.server_mode_max_level is not None and (
            old.server_mode_max_level is None
            or _rank(new, new.server_mode_max_level) > _rank(old, old.server_mode_max_level))
        add(Change("consent.server_mode_max_level", "server_mode_changed",
                   f"{old.server_mode_max_level or 'not allowed'} -> {new.server_mode_max_level or 'not allowed'}",
                   wider))


def _aggregation_and_key_changes(add: _Add, old: Policy, new: Policy) -> None:
    """k, epsilon, roll-up retention, the retention ceiling and the key periods."""
    _compare_number(add, "aggregation.min_k", old.aggregation.min_k, new.aggregation.min_k, material_if="lower")
    _compare_number(add, "aggregation.dp_epsilon_per_year", old.aggregation.yearly_epsilon,
                    new.aggregation.yearly_epsilon, material_if="higher")
    _compare_number(add, "aggregation.dp_delta", old.aggregation.yearly_delta, new.aggregation.yearly_delta,
                    material_if="higher")
    _compare_number(add, "aggregation.window_days", old.aggregation.publication_window_days,
                    new.aggregation.publication_window_days, material_if="lower")
    _compare_number(add, "aggregation.rollup_retention_days", old.aggregation.rollup_retention_days,
                    new.aggregation.rollup_retention_days, material_if="higher")
    if old.aggregation.quasi_identifier_min_k is not None or new.aggregation.quasi_identifier_min_k is not None:
        _compare_number(add, "aggregation.quasi_identifier_min_k", old.aggregation.quasi_k, new.aggregation.quasi_k,
                        material_if="lower")
    _compare_number(add, "policy.retention_ceiling_days", old.retention_ceiling_days, new.retention_ceiling_days,
                    material_if="higher")
    for key in ("pseudonym_rotation_days", "data_key_days", "kek_cryptoperiod_days", "hpke_key_cryptoperiod_days",
                "signing_key_cryptoperiod_days"):
        _compare_number(add, f"keys.{key}", getattr(old.keys, key), getattr(new.keys, key), material_if="higher")


def _sampling_and_limit_changes(add: _Add, old: Policy, new: Policy) -> None:
    """The sampling rate, the device's rate and queue limits, and their overrides."""
    _compare_number(add, "sampling.rate", old.sampling.rate, new.sampling.rate, material_if="higher")
    if old.sampling.overrides != new.sampling.overrides:
        add(Change("sampling.overrides", "overrides_changed", "sampling overrides changed", True))
    for key in ("reports_per_hour", "reports_per_day", "queue_max_reports", "queue_max_bytes", "queue_max_age_days"):
        _compare_number(add, f"limits.{key}", getattr(old.limits, key), getattr(new.limits, key), material_if="higher")
    _compare_number(add, "limits.dedupe_window_s", old.limits.dedupe_window_s, new.limits.dedupe_window_s,
                    material_if="lower")
    if old.limits.overrides != new.limits.overrides:
        add(Change("limits.overrides", "overrides_changed", "limit overrides changed", True))


def _redaction_and_notice_changes(add: _Add, old: Policy, new: Policy) -> None:
    """Detectors switched off (material) or on, placeholder texts, the notice's texts."""
    dropped = sorted(set(old.redaction.detectors) - set(new.redaction.detectors))
    added = sorted(set(new.redaction.detectors) - set(old.redaction.detectors))
    if dropped:
        add(Change("redaction.detectors", "detectors_removed", f"no longer run: {', '.join(dropped)}", True))
    if added:
        add(Change("redaction.detectors", "detectors_added", f"now run: {', '.join(added)}", False))
    if dict(old.redaction.placeholders) != dict(new.redaction.placeholders):
        add(Change("redaction.placeholders", "placeholders_changed", "placeholder texts changed", False))
    for key in ("app_name", "controller", "contact", "deletion"):
        if getattr(old.notice, key) != getattr(new.notice, key):
            add(Change(f"notice.{key}", "notice_changed", "notice text changed", False))


def _adoption_changes(add: _Add, old: Policy, new: Policy) -> None:
    """The daily adoption ping: allowed now (material), stopped, or its level, retention, access, purpose."""
    before, after = old.adoption, new.adoption
    if before is None and after is not None:
        add(Change("adoption", "adoption_added", f"daily adoption ping sent from level '{after.level}', "
                   f"counts kept {after.retention_days} days", True))
    elif before is not None and after is None:
        add(Change("adoption", "adoption_removed", "daily adoption ping no longer sent", False))
    elif before is not None and after is not None:
        if before.level != after.level:
            add(Change("adoption.level", "level_changed", f"'{before.level}' -> '{after.level}'",
                       _rank(new, after.level) < _rank(old, before.level)))
        _compare_number(add, "adoption.retention_days", before.retention_days, after.retention_days,
                        material_if="higher")
        widened = sorted(set(after.access) - set(before.access))
        if widened:
            add(Change("adoption.access", "access_widened", f"now also visible to {', '.join(widened)}", True))
        if before.purpose != after.purpose:
            add(Change("adoption.purpose", "purpose_changed", "the stated purpose changed", True))


def _forwarding_changes(add: _Add, old: Policy, new: Policy) -> None:
    """Destinations added (material) or removed; a destination's new fields, title, kind or
    purpose (material: it forwards more, or elsewhere); fields marked forwardable (minor:
    nothing leaves until a destination names them)."""
    for name in sorted(set(new.forwarding) - set(old.forwarding)):
        rule = new.forwarding[name]
        shown = ", ".join(rule.fields) or "no fields"
        add(Change(f"forwarding.{name}", "destination_added",
                   f"new {rule.kind} destination receives {shown}{' and the title' if rule.title else ''}", True))
    for name in sorted(set(old.forwarding) - set(new.forwarding)):
        add(Change(f"forwarding.{name}", "destination_removed", "destination no longer receives alerts", False))
    for name in sorted(set(old.forwarding) & set(new.forwarding)):
        before, after = old.forwarding[name], new.forwarding[name]
        path = f"forwarding.{name}"
        more = sorted(set(after.fields) - set(before.fields))
        if more:
            add(Change(f"{path}.fields", "forwarding_widened", f"now also receives {', '.join(more)}", True))
        fewer = sorted(set(before.fields) - set(after.fields))
        if fewer:
            add(Change(f"{path}.fields", "forwarding_narrowed", f"no longer receives {', '.join(fewer)}", False))
        if before.title != after.title:
            add(Change(f"{path}.title", "forwarding_title", "now receives the group's title" if after.title
                       else "no longer receives the group's title", after.title))
        if before.kind != after.kind:
            add(Change(f"{path}.kind", "destination_kind_changed", f"'{before.kind}' -> '{after.kind}'", True))
        if before.purpose != after.purpose:
            add(Change(f"{path}.purpose", "purpose_changed", "the stated purpose changed", True))
    for name in sorted(set(old.fields) & set(new.fields)):
        if old.fields[name].forwardable != new.fields[name].forwardable:
            now = new.fields[name].forwardable
            add(Change(f"fields.{name}.forwardable", "forwardable_changed",
                       "may now be forwarded (once a destination names it)" if now else "no longer forwardable",
                       False))


def _feedback_changes(add: _Add, old: Policy, new: Policy) -> None:
    """The privacy feedback channel: offered now or no more (not material: nothing is sent but what the
    user writes), a longer retention or wider access (material), topics, length or purpose."""
    before, after = old.feedback, new.feedback
    if before is None and after is not None:
        add(Change("feedback", "feedback_added", f"privacy feedback channel offered, kept {after.retention_days} "
                   "days", False))
    elif before is not None and after is None:
        add(Change("feedback", "feedback_removed", "privacy feedback channel no longer offered", False))
    elif before is not None and after is not None:
        _compare_number(add, "feedback.retention_days", before.retention_days, after.retention_days,
                        material_if="higher")
        widened = sorted(set(after.access) - set(before.access))
        if widened:
            add(Change("feedback.access", "access_widened", f"now also read by {', '.join(widened)}", True))
        if (before.topics, before.max_chars, before.purpose) != (after.topics, after.max_chars, after.purpose):
            add(Change("feedback", "feedback_changed", "topics, length or purpose changed", False))


def format_diff(diff: PolicyDiff, *, fmt: str = "text") -> str:
    """Render a diff for a person (``text``) or a tool (``json``)."""
    if fmt == "json":
        import json

        return json.dumps({
            "old": {"version": diff.old_version, "digest": diff.old_digest},
            "new": {"version": diff.new_version, "digest": diff.new_digest},
            "needs_review": diff.needs_review,
            "version_error": diff.version_error,
            "changes": [change.__dict__ for change in diff.changes],
        }, indent=2) + "\n"
    lines = [f"policy {diff.old_version} -> {diff.new_version}"]
    if not diff.changes:
        lines.append("no changes")
    for change in diff.changes:
        mark = "MATERIAL" if change.material else "minor   "
        lines.append(f"  {mark}  {change.path}: {change.detail}")
    if diff.needs_review:
        lines.append(f"{len(diff.material)} material change(s) need a privacy review")
    if diff.version_error:
        lines.append(f"error: {diff.version_error}")
    return "\n".join(lines) + "\n"


def _rank(policy: Policy, level: str) -> int:
    try:
        return policy.rank(level)
    except KeyError:
        return 0


def _compare_number(add: _Add, path: str, old: float, new: float, *, material_if: str) -> None:
    if old == new:
        return
    material = new > old if material_if == "higher" else new < old
    add(Change(path, "value_changed", f"{old} -> {new}", material))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
