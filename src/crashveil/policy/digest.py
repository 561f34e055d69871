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
    # Optional [aggregation] keys a policy does not write are absent, so its digest is as it was.
    data["aggregation"] = {key: value for key, value in data["aggregation"].items() if value is not None}
    if data.get("expiry_warning_days") is None:  # absent: digests of policies from before expiry
        data.pop("expiry_warning_days", None)
    if data.get("feedback") is None:  # absent: the digest of a policy without [feedback]
        data.pop("feedback", None)
    data["fields"] = {name: data["fields"][name] for name in sorted(data["fields"])}
    for rule in data["fields"].values():
        if not rule["keys"]:  # only keyed fields (tags) list keys: other fields' digests stay as they were
            del rule["keys"]
        if not rule["forwardable"]:  # absent: the digest of a field before forwarding existed
            del rule["forwardable"]
        if not rule["expires"]:  # a policy stored before expiry existed keeps its digest
            del rule["expires"]
    if not data.get("forwarding"):  # absent: the digest of a policy without [forwarding]
        data.pop("forwarding", None)
    return data


def policy_digest(policy: Policy) -> str:
    """``sha256:<hex>`` over the canonical JSON of the policy (sorted keys, no whitespace)."""
    return canonical_digest(canonical_policy(policy))


def canonical_digest(canonical: dict[str, Any]) -> str:
    """``policy_digest`` of the policy whose ``canonical_policy`` is ``canonical``."""
    from crashveil.wire.canonical import canonical_json

    # ASCII-escaped since the first digest: every stored consent and report carries one.
    return "sha256:" + hashlib.sha256(canonical_json(canonical, ensure_ascii=True)).hexdigest()
