"""The shared contract of crashveil (stdlib only): the policy, the report format, digests.

The SDK and the server both import this package; it never imports either of them.
"""

from __future__ import annotations

from crashveil.policy.digest import canonical_policy, policy_digest
from crashveil.policy.fingerprint import FINGERPRINT_VERSION, compute_fingerprint
from crashveil.policy.loader import default_policy, default_policy_path, load_policy, parse_policy
from crashveil.policy.model import ROLES, SENSITIVITY_CLASSES, ConsentLevel, FieldRule, Policy
from crashveil.policy.report import (
    LIMITS,
    REPORT_FIELDS,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    Breadcrumb,
    ChainedError,
    Environment,
    Frame,
    Report,
    Stack,
    json_schema,
    parse_report,
    report_from_json,
)

__all__ = [
    "FINGERPRINT_VERSION",
    "LIMITS",
    "REPORT_FIELDS",
    "REQUIRED_FIELDS",
    "ROLES",
    "SCHEMA_VERSION",
    "SENSITIVITY_CLASSES",
    "Breadcrumb",
    "ChainedError",
    "ConsentLevel",
    "Environment",
    "FieldRule",
    "Frame",
    "Policy",
    "Report",
    "Stack",
    "canonical_policy",
    "compute_fingerprint",
    "default_policy",
    "default_policy_path",
    "json_schema",
    "load_policy",
    "parse_policy",
    "parse_report",
    "policy_digest",
    "report_from_json",
]
