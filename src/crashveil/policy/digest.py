"""A stable digest of a policy: the same rules give the same digest, whatever the formatting.

The digest travels with every report (``policy_digest``) and is stored with every consent,
so the server validates a report against the exact policy it was built under and the SDK
can tell when the policy changed since the user chose a level.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crashveil.policy.model import Policy

__all__ = ["policy_digest", "canonical_policy", "canonical_digest"]


def canonical_policy(policy: Policy) -> dict[str, Any]:
    """The policy as plain JSON-ready data, without where it was read from."""
    data = dataclasses.asdict(policy)
    data.pop("source", None)
    if data.get("server_mode_max_level") is None:  # absent: the digest of a policy without [consent]
        data.pop("server_mode_max_level", None)
    if data.get("adoption") is None:  # absent: the digest of a policy without [adoption]
        data.pop("adoption", None)
    if data["aggregation"].get("quasi_identifier_min_k") is None:  # absent: digests stay as they were
        data["aggregation"].pop("quasi_identifier_min_k", None)
    data["fields"] = {name: data["fields"][name] for name in sorted(data["fields"])}
    for rule in data["fields"].values():
        if not rule["keys"]:  # only keyed fields (tags) list keys: other fields' digests stay as they were
            del rule["keys"]
    return data


def policy_digest(policy: Policy) -> str:
    """``sha256:<hex>`` over the canonical JSON of the policy (sorted keys, no whitespace)."""
    return canonical_digest(canonical_policy(policy))


def canonical_digest(canonical: dict[str, Any]) -> str:
    """``policy_digest`` of the policy whose ``canonical_policy`` is ``canonical``."""
    from crashveil.wire.canonical import canonical_json

    # ASCII-escaped since the first digest: every stored consent and report carries one.
    return "sha256:" + hashlib.sha256(canonical_json(canonical, ensure_ascii=True)).hexdigest()
