"""The shared contract of crashveil (stdlib only): the policy, the report format, digests.

The SDK and the server both import this package; it never imports either of them.

The names below are loaded on first access (PEP 562), so importing one submodule
(``crashveil.policy.protocol`` for a DSN, ``crashveil.policy.model`` for a type) does not
pay for the others: ``crashveil.init()`` must stay cheap (DESIGN.md section 6).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing ``typing`` costs ``init()`` milliseconds
if TYPE_CHECKING:
    from typing import Any

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

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "canonical_policy": "digest",
    "policy_digest": "digest",
    "FINGERPRINT_VERSION": "fingerprint",
    "compute_fingerprint": "fingerprint",
    "default_policy": "loader",
    "default_policy_path": "loader",
    "load_policy": "loader",
    "parse_policy": "loader",
    "ROLES": "model",
    "SENSITIVITY_CLASSES": "model",
    "ConsentLevel": "model",
    "FieldRule": "model",
    "Policy": "model",
    "LIMITS": "report",
    "REPORT_FIELDS": "report",
    "REQUIRED_FIELDS": "report",
    "SCHEMA_VERSION": "report",
    "Breadcrumb": "report",
    "ChainedError": "report",
    "Environment": "report",
    "Frame": "report",
    "Report": "report",
    "Stack": "report",
    "json_schema": "report",
    "parse_report": "report",
    "report_from_json": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
