"""Tags a report may keep: only keys the policy lists (``[fields.tags] keys``).

The Sentry mapping keeps listed keys only; a native client could send any key that has the
right form, so the ingest pipeline applies the same list (defence in depth).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.wire import Report

__all__ = ["listed_tags_only"]


def listed_tags_only(report: Report, policy: Policy) -> tuple[Report, tuple[str, ...]]:
    """``report`` without tags whose key the policy does not list, and ``("tags",)`` if any went."""
    rule = policy.fields.get("tags")
    keys = rule.keys if rule is not None else ()
    tags = report.tags or ()
    kept = tuple(tag for tag in tags if tag.key in keys)
    if len(kept) == len(tags):
        return report, ()
    return dataclasses.replace(report, tags=kept or None), ("tags",)
