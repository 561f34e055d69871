"""The report's fields as the policy groups them, each with its consent level, and the raw JSON.

The policy sorts every field into a sensitivity class (``SENSITIVITY_CLASSES``: technical,
quasi-identifier, pseudonymous, free-text); the page lists the fields the viewer may see under
those classes, in policy order, with the consent level that allows the field, its purpose and
its retention. Fields the page shows in their own section (the stack in the trace, breadcrumbs
in the timeline) point there instead of repeating their value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from crashveil.policy.model import SENSITIVITY_CLASSES, FieldRule, Policy
from crashveil.server.dashboard.report_view.text import free_text, one_line
from crashveil.wire.report import Report, SourceLine, Tag

__all__ = ["ConsentBadge", "Entry", "FieldGroup", "FieldView", "field_groups", "raw_json"]


@dataclass(frozen=True)
class Entry:
    """One line of a field's value; ``label`` is empty for a plain value."""

    label: str
    text: str


@dataclass(frozen=True)
class ConsentBadge:
    """The consent level a field needs: its name, the title users chose it by, and its rank."""

    level: str
    title: str
    rank: int


@dataclass(frozen=True)
class FieldView:
    """One field the viewer may see; ``section`` names the page section showing it, if not here."""

    name: str
    purpose: str
    consent: ConsentBadge
    retention_days: int
    entries: tuple[Entry, ...]
    section: str | None = None


@dataclass(frozen=True)
class FieldGroup:
    """The fields of one sensitivity class, with what the class means."""

    sensitivity: str
    about: str
    fields: tuple[FieldView, ...]


def _entries(value: object) -> tuple[Entry, ...]:
    """A field value as label/text lines (scalars one line; mappings, tags and records one per item)."""
    if isinstance(value, bool):
        return (Entry("", "yes" if value else "no"),)
    if isinstance(value, (int, float)):
        return (Entry("", str(value)),)
    if isinstance(value, str):
        return (Entry("", free_text(value)),)
    if isinstance(value, Tag):
        return (Entry(one_line(value.key), one_line(value.value)),)
    if isinstance(value, SourceLine):
        return (Entry(f"frame {value.frame}", one_line(value.line)),)
    if isinstance(value, dict):
        return tuple(Entry(one_line(key), one_line(item)) for key, item in value.items())
    if isinstance(value, tuple):
        return tuple(entry for item in value for entry in _entries(item))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(Entry(f.name, one_line(getattr(value, f.name))) for f in dataclasses.fields(value)
                     if getattr(value, f.name) is not None)
    return (Entry("", one_line(value)),)


def _badge(policy: Policy, rule: FieldRule) -> ConsentBadge:
    level = policy.level(rule.level)
    return ConsentBadge(level.name, level.title, level.rank)


def field_groups(report: Report, shown: frozenset[str], policy: Policy,
                 sections: Mapping[str, str]) -> tuple[FieldGroup, ...]:
    """The ``shown`` fields of ``report`` by sensitivity class (the policy's order of classes, then fields).

    ``sections``: field name -> the page section that shows it (its value is not repeated).
    """
    by_class: dict[str, list[FieldView]] = {}
    for name, rule in policy.fields.items():
        if name not in shown:
            continue
        section = sections.get(name)
        entries = () if section else _entries(getattr(report, name))
        by_class.setdefault(rule.sensitivity, []).append(FieldView(
            name, rule.purpose, _badge(policy, rule), rule.retention_days, entries, section))
    order = list(SENSITIVITY_CLASSES) + sorted(set(by_class) - set(SENSITIVITY_CLASSES))
    return tuple(FieldGroup(cls, SENSITIVITY_CLASSES.get(cls, ""), tuple(by_class[cls]))
                 for cls in order if cls in by_class)


def raw_json(report: Report, shown: frozenset[str]) -> str:
    """The ``shown`` fields as pretty-printed JSON, every control and bidi character escaped."""
    data = {name: value for name, value in report.to_dict().items() if name in shown}
    text = json.dumps(data, indent=2, ensure_ascii=False)
    # JSON strings hold no raw line breaks: each line is one line of layout, escaped on its own.
    return "\n".join(one_line(line) for line in text.split("\n"))
