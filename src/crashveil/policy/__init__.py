"""The policy of crashveil (stdlib only): model, loader, digest, diff, notice, fingerprints.

The SDK and the server both import this package; it never imports either of them. The
report format it governs lives in ``crashveil.wire`` (which never imports this package).

The names below are loaded on first access (PEP 562), so importing one submodule
(``crashveil.policy.model`` for a type) does not pay for the others: ``crashveil.init()``
must stay cheap (DESIGN.md section 6).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing ``typing`` costs ``init()`` milliseconds
if TYPE_CHECKING:
    from typing import Any

    # ``X as X``: re-exported names, for type checkers (the real import is lazy, below).
    from crashveil.policy.digest import (
        canonical_policy as canonical_policy,
        policy_digest as policy_digest,
    )
    from crashveil.policy.fingerprint import (
        FINGERPRINT_VERSION as FINGERPRINT_VERSION,
        compute_fingerprint as compute_fingerprint,
    )
    from crashveil.policy.loader import (
        default_policy as default_policy,
        default_policy_path as default_policy_path,
        load_policy as load_policy,
        parse_policy as parse_policy,
    )
    from crashveil.policy.model import (
        ROLES as ROLES,
        SENSITIVITY_CLASSES as SENSITIVITY_CLASSES,
        ConsentLevel as ConsentLevel,
        FieldRule as FieldRule,
        Policy as Policy,
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
}

__all__ = sorted(_EXPORTS)


if not TYPE_CHECKING:  # hidden from type checkers, so a name not re-exported above is an error there

    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
