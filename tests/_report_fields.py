"""Every string of the wire format, by path, and a full report to plant values in.

Loaded by path (``tests`` is not a package) by the control-character and server canary tests.
Paths name list items with ``[0]`` and mapping keys with ``{key}``: ``stack.frames[0].file``,
``chain[0].crash_type``, ``client_stats{key}``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC
from typing import Any

from crashveil.policy import compute_fingerprint, policy_digest
from crashveil.wire import Report
from crashveil.wire.report import Frame


def string_paths(cls: type = Report, prefix: str = "") -> list[str]:
    """Every ``str`` field of the report dataclasses, recursively (dict keys included)."""
    paths: list[str] = []
    hints = typing.get_type_hints(cls)
    for fld in dataclasses.fields(cls):
        paths += _paths_of(hints[fld.name], f"{prefix}.{fld.name}" if prefix else fld.name)
    return paths


def _paths_of(hint: Any, path: str) -> list[str]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return [p for arg in typing.get_args(hint) if arg is not type(None) for p in _paths_of(arg, path)]
    if origin is typing.Literal:
        return []  # a closed set of values: nothing to plant
    if origin is tuple:
        return _paths_of(typing.get_args(hint)[0], f"{path}[0]")
    if origin is dict:
        key, value = typing.get_args(hint)
        return ([f"{path}{{key}}"] if key is str else []) + _paths_of(value, f"{path}{{value}}")
    if dataclasses.is_dataclass(hint):
        return string_paths(hint, path)
    if hint is str:
        return [path]
    return []


def full_report(digest: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid report dict with every field present (default policy digest unless told)."""
    if digest is None:
        from crashveil.policy import default_policy

        digest = policy_digest(default_policy())
    frames = (Frame("app/main.py", "main", 10, True), Frame("app/store.py", "load", 42, True))
    import uuid
    from datetime import datetime

    report: dict[str, Any] = {
        "schema_version": 1, "policy_digest": digest, "consent_level": "diagnostic",
        "report_id": str(uuid.uuid4()), "crash_type": "KeyError",
        "fingerprint": compute_fingerprint("KeyError", frames), "error_code": "errno:2", "mechanism": "excepthook",
        "stack": {"frames": [dataclasses.asdict(f) for f in frames], "elided": 0},
        "chain": [{"relation": "cause", "crash_type": "OSError", "error_code": "errno:13", "message": "denied",
                   "stack": {"frames": [dataclasses.asdict(frames[0])], "elided": 0}}],
        "occurred_hour": datetime.now(UTC).strftime("%Y-%m-%dT%H:00Z"), "release": "1.0.0",
        "environment": {"os_family": "linux", "os_version": "6", "python_impl": "cpython",
                        "python_version": "3.11", "arch": "x86_64"},
        "install_id": uuid.uuid4().hex, "client_stats": {"dropped": 1}, "comment": "it crashed",
        "message": "'k'", "breadcrumbs": [{"offset_s": 3, "category": "ui", "message": "clicked save"}],
        "route": "/users/{id}", "http_method": "POST", "status_code": 500, "handler": "app.views.create_user",
        "dist": "520", "deployment": "production", "severity": "error", "logger": "app.store", "platform": "python",
        "handled": False, "device_class": "desktop", "transaction": "/save", "tags": [{"key": "feature",
                                                                                           "value": "save"}],
        "grouping": ["{{ default }}", "store"], "message_template": "cannot save %s",
        "source_context": [{"frame": 1, "line": "return data[key]"}],
    }
    report.update(overrides)
    return report


def plant(report: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """``report`` with the string at ``path`` replaced by ``value`` (in place; returned)."""
    parts = path.replace("[0]", ".[0]").split(".")
    node: Any = report
    for part in parts[:-1]:
        node = node[0] if part == "[0]" else node[part]
    last = parts[-1]
    if last == "[0]":  # a list of strings (``grouping``)
        node[0] = value
    elif last.endswith("{key}"):
        mapping = node[last[: -len("{key}")]]
        mapping[value] = mapping.pop(next(iter(mapping)))
    else:
        node[last] = value
    return report
