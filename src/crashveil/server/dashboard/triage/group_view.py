"""What one group's page shows to the signed-in roles: the title, the stack signature with
source lines, the distributions and the daily counts. Aggregates only, cut by the policy.

Every part follows the policy's field access (``governance.principals.visible_fields``), as
the group list does (``triage.titles``):

- title: the type always; the culprit where ``stack`` is visible; the message template where
  ``message`` and ``message_template`` are, within their retention;
- signature (the fingerprint's frames, ``module.function``, in-app marked): where ``stack``
  is; the newest report's in-app source lines beside its frames only where ``source_context``
  is too, and only while that report is within ``source_context``'s retention;
- distributions: release where ``release`` is, OS family and runtime where ``environment``
  is, environment (the report's ``deployment``) where ``deployment`` is. For a field the
  policy rates other than ``technical`` (the environment is a quasi-identifier), values with
  fewer than k (``aggregation.min_k``) reports in the window are folded into one "other"
  line, so a rare platform cannot single out the few who run it. At most eight values show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from crashveil.policy.model import Policy
from crashveil.server.dashboard import queries as q
from crashveil.server.dashboard.triage.titles import TitleRules, title_rules
from crashveil.server.governance.principals import visible_fields

__all__ = ["DAYS", "Distribution", "GroupView", "SignatureFrame", "group_view"]

#: The window of the distributions and of the daily counts, in days.
DAYS = 30
#: Distributions: (name, label, policy field that must be visible, where the counts come from).
_DISTRIBUTIONS = (("release", "release", "release", "release"), ("os", "OS family", "environment", "os_family"),
                  ("runtime", "runtime", "environment", "runtime"),
                  ("environment", "environment", "deployment", "environment"))
#: At most this many values are drawn; the rest are folded into "other".
_MAX_VALUES = 8


@dataclass(frozen=True)
class SignatureFrame:
    """One frame of the group's stack signature; ``line``/``source`` only where shown."""

    module: str
    function: str
    in_app: bool
    line: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class Distribution:
    """Report counts by one dimension over :data:`DAYS` days; ``rows`` ``None``: not visible to the roles.

    Attributes:
        folded: reports of values below k or beyond the first few, shown as one "other" line.
    """

    name: str
    label: str  # as in a sentence: "release", "OS family"
    rows: tuple[tuple[str, int], ...] | None
    folded: int = 0

    @property
    def heading(self) -> str:
        return self.label[:1].upper() + self.label[1:]


@dataclass(frozen=True)
class GroupView:
    """The group page's aggregate parts for the signed-in roles (``visible``: the policy
    fields they may see, for the page's other per-value columns)."""

    culprit: str | None
    message: str | None
    stack_visible: bool
    source_visible: bool
    signature: tuple[SignatureFrame, ...]
    distributions: tuple[Distribution, ...]
    daily: tuple[tuple[str, int], ...]
    visible: frozenset[str] = frozenset()


def _signature(row: Any, rules: TitleRules, source_since: datetime | None) -> tuple[SignatureFrame, ...]:
    if not rules.culprit or not row.signature:
        return ()
    frames = [SignatureFrame(str(m), str(f), bool(a)) for m, f, a in json.loads(row.signature)]
    if source_since is None or not row.source_lines or row.source_at is None or row.source_at < source_since:
        return tuple(frames)
    for index, line, text in json.loads(row.source_lines):
        if 0 <= index < len(frames) and frames[index].in_app:
            old = frames[index]
            frames[index] = SignatureFrame(old.module, old.function, True, int(line), str(text))
    return tuple(frames)


def _source_since(policy: Policy, visible: set[str], now: datetime) -> datetime | None:
    """Source lines received at or after this are shown; ``None``: none is."""
    if "source_context" not in visible or "stack" not in visible:
        return None
    return now - timedelta(days=policy.fields["source_context"].retention_days)


def _fold(counts: list[tuple[str, int]], min_k: int) -> tuple[tuple[tuple[str, int], ...], int]:
    """The values shown (at least ``min_k`` reports, the first few) and the reports folded."""
    shown = [(value or "(unknown)", n) for value, n in counts if n >= min_k][:_MAX_VALUES]
    return tuple(shown), sum(n for _, n in counts) - sum(n for _, n in shown)


def _distributions(conn: Connection, group_id: int, policy: Policy, visible: set[str], now: datetime,
                   release_counts: list[tuple[str, int]] | None) -> tuple[Distribution, ...]:
    since = q.hour_key(now - timedelta(days=DAYS))
    since_day = (now - timedelta(days=DAYS - 1)).date().isoformat()
    out = []
    for name, label, field, source in _DISTRIBUTIONS:
        if field not in visible or field not in policy.fields:
            out.append(Distribution(name, label, None))
            continue
        if source == "release" and release_counts is not None:
            counts = release_counts
        elif source in ("release", "os_family"):
            counts = q.distribution(conn, group_id, source, since=since)
        else:
            counts = q.day_facet_distribution(conn, group_id, source, since_day=since_day)
        k = policy.aggregation.min_k if policy.fields[field].sensitivity != "technical" else 0
        rows, folded = _fold(counts, k)
        out.append(Distribution(name, label, rows, folded))
    return tuple(out)


def group_view(conn: Connection, row: Any, policy: Policy, roles: frozenset[str], *, now: datetime,
               release_counts: list[tuple[str, int]] | None = None) -> GroupView:
    """The :class:`GroupView` of the ``crash_groups`` row ``row`` for ``roles`` at ``now``.

    ``release_counts``: the group's ``q.distribution`` by release over the last :data:`DAYS`
    days to ``now``, when the caller has read it already (one round trip fewer)."""
    visible = set(visible_fields(policy, roles))
    rules = title_rules(policy, roles, now=now)
    since = rules.message_since
    message = row.title_message if since is not None and row.title_message_at is not None and (
        row.title_message_at >= since) else None
    source_since = _source_since(policy, visible, now)
    return GroupView(culprit=row.culprit if rules.culprit else None, message=message, stack_visible=rules.culprit,
                     source_visible=source_since is not None, signature=_signature(row, rules, source_since),
                     distributions=_distributions(conn, row.id, policy, visible, now, release_counts),
                     daily=tuple(q.daily_counts(conn, row.id, now=now, days=DAYS)), visible=frozenset(visible))
