"""The gate's view of field expiry: warn ahead, fail past expiry without a renewal.

A field whose dated ``expires`` (``policy/expiry.py``) is within the warning window gets a
warning; one past it fails the gate (``field_expired``) unless a review record renews it: a
record dated on or after the expiry day whose ``changes`` list ``fields.NAME.expires``
(``crashveil policy renew`` writes the new date into the policy, which is the lasting fix).
A release bound (``release:X.Y``) cannot be judged here (the gate does not know which
release is being built); the SDK and the server apply it. Stdlib only.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

from crashveil.gate.findings import Problem
from crashveil.policy.expiry import days_left, parse_expiry

if TYPE_CHECKING:
    from crashveil.gate.review import ReviewRecord
    from crashveil.policy.model import Policy

__all__ = ["DEFAULT_WARNING_DAYS", "expiry_findings"]

#: Days before a field expires that ``crashveil check`` warns, unless the policy
#: (``[policy] expiry_warning_days``) or ``--expiry-warning-days`` says otherwise.
DEFAULT_WARNING_DAYS = 30


def expiry_findings(policy: Policy, records: Sequence[ReviewRecord], *, today: datetime.date,
                    warning_days: int | None = None) -> tuple[list[Problem], list[Problem]]:
    """The problems (expired, not renewed) and warnings (expiring soon) of ``policy``'s fields."""
    window = warning_days if warning_days is not None else (
        policy.expiry_warning_days if policy.expiry_warning_days is not None else DEFAULT_WARNING_DAYS)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for name, rule in sorted(policy.fields.items()):
        if not rule.expires:
            continue
        expiry = parse_expiry(rule.expires)
        left = days_left(expiry, today)
        if left is None or expiry.day is None:
            continue
        path = f"fields.{name}.expires"
        if left <= 0:
            if not _renewed(path, expiry.day, records):
                problems.append(Problem("field_expired", path,
                                        f"expired on {expiry.day.isoformat()}: the SDK no longer collects it; renew "
                                        f"it with a review (crashveil policy renew {name} --until DATE --review "
                                        "FILE) or remove the field"))
        elif left <= window:
            warnings.append(Problem("field_expiring", path,
                                    f"expires on {expiry.day.isoformat()} (in {left} day{'s' if left != 1 else ''}): "
                                    "review and renew it, or let it stop"))
    return problems, warnings


def _renewed(path: str, day: datetime.date, records: Sequence[ReviewRecord]) -> bool:
    return any(record.date >= day and path in record.changes for record in records)
