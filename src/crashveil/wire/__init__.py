"""What the SDK and the server put on and read off the wire (stdlib only).

- ``report.py``: the crash report, wire format v1 (dataclasses; strict parsing; JSON schema).
- ``protocol.py``: the HTTP contract (routes, content type, headers, limits) and the
  connection string (``_connection.py`` parses it without ``dataclasses``, for ``init()``).
- ``keyfmt.py``: key strings and the sealed-envelope header.
- ``canonical.py``: the one canonical JSON encoder (bytes that are signed or hashed).

This package imports neither the SDK, the server nor ``crashveil.policy`` (the policy reads
the report's field names from here). The names below are loaded on first access (PEP 562),
so importing one submodule does not pay for the others: ``crashveil.init()`` must stay cheap.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing ``typing`` costs ``init()`` milliseconds
if TYPE_CHECKING:
    from typing import Any

    # ``X as X``: re-exported names, for type checkers (the real import is lazy, below).
    from crashveil.wire.canonical import canonical_json as canonical_json
    from crashveil.wire.report import (
        LIMITS as LIMITS,
        REPORT_FIELDS as REPORT_FIELDS,
        REQUIRED_FIELDS as REQUIRED_FIELDS,
        SCHEMA_VERSION as SCHEMA_VERSION,
        Breadcrumb as Breadcrumb,
        ChainedError as ChainedError,
        Environment as Environment,
        Frame as Frame,
        Report as Report,
        Stack as Stack,
        json_schema as json_schema,
        parse_report as parse_report,
        report_from_json as report_from_json,
    )

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "canonical_json": "canonical",
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
