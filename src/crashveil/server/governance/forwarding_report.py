"""The audit report's part on forwarding: each destination the policy lets alerts go to,
its kind, purpose, the fields it receives and its review (``[forwarding.NAME]``)."""

from __future__ import annotations

from typing import Any

from crashveil.policy.model import Policy

__all__ = ["forwarding_entries", "forwarding_table"]


def forwarding_entries(policy: Policy) -> list[dict[str, Any]]:
    """The policy's destinations as plain JSON-able values, by name."""
    return [{"name": rule.name, "kind": rule.kind, "purpose": rule.purpose, "fields": list(rule.fields),
             "title": rule.title, "review": rule.review}
            for _, rule in sorted(policy.forwarding.items())]


def forwarding_table(entries: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the destinations table; no rows: the policy forwards nothing."""
    return (["destination", "kind", "receives", "title", "purpose", "review"],
            [[e["name"], e["kind"], ", ".join(e["fields"]) or "(counts and a link only)", e["title"], e["purpose"],
              e["review"]] for e in entries])
