"""The crash report, wire format v1: stdlib dataclasses with strict JSON in and out.

One definition serves everyone: the SDK builds a ``Report``, the server parses the same
class back (``parse_report``), and ``docs/report.schema.json`` is generated from it
(``json_schema()``; a test fails when the committed file is stale).

Limits are explicit (``LIMITS``): string lengths, frame counts, chain length, nesting depth
and total size. Parsing never trusts the input: every string is checked for type, length and
encodability, every unknown key is either an error or dropped and reported to the caller.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from crashveil.errors import ReportError
from crashveil.textsafe import find_unsafe

__all__ = [
    "SCHEMA_VERSION",
    "LIMITS",
    "REPORT_FIELDS",
    "REQUIRED_FIELDS",
    "CONTEXT_FIELDS",
    "Frame",
    "Stack",
    "ChainedError",
    "Environment",
    "Breadcrumb",
    "Tag",
    "SourceLine",
    "Report",
    "parse_report",
    "report_from_json",
    "json_schema",
]

SCHEMA_VERSION = 1

#: Hard limits of the wire format. The server enforces them before any other work.
LIMITS: Mapping[str, int] = {
    "max_report_bytes": 64 * 1024,
    "max_name_chars": 256,  # crash types, functions, files, releases
    "max_message_chars": 2048,  # messages, comments, breadcrumb text
    "max_frames": 64,
    "max_chain": 5,
    "max_breadcrumbs": 20,
    "max_client_stats": 16,
    "max_depth": 8,
}

_NAME = {"max_length": LIMITS["max_name_chars"]}
#: Free text (``free_text``): may hold line breaks and other controls on the wire; the server
#: normalises it (``crashveil.textsafe.normalise_free_text``). Every other string, and every
#: mapping key, is refused if it holds a control or invisible formatting character.
_TEXT = {"max_length": LIMITS["max_message_chars"], "free_text": True}
#: The error code and message of a string refused for a control or formatting character.
CONTROL_CHARACTER = ("control_character", "contains a control or invisible formatting character")
_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_HOUR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:00Z$"
_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_FINGERPRINT_PATTERN = r"^v\d+:[0-9a-f]{32}$"
_PSEUDONYM_PATTERN = r"^[0-9a-f]{32}$"
_LEVEL_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_CODE_PATTERN = r"^(errno|winerror|exit|signal|http|code):-?\d{1,10}$"
_STAT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
_METHOD_PATTERN = r"^[A-Z]{1,16}$"
#: A tag key the policy allowlists (``fields.tags.keys``), and the platform of a Sentry event.
TAG_KEY_PATTERN = r"^[a-z][a-z0-9_.-]{0,31}$"
_PLATFORM_PATTERN = r"^[a-z][a-z0-9_.-]{0,31}$"
#: Tags, SDK grouping parts and source lines a report may carry.
MAX_TAGS = 16
MAX_GROUPING_PARTS = 8


def _spec(**kwargs: Any) -> dict[str, Any]:
    return {"spec": kwargs}


@dataclass(frozen=True)
class Frame:
    """One stack frame: module-relative path, function and line. No locals, no source."""

    file: str = field(metadata=_spec(**_NAME))
    function: str = field(metadata=_spec(**_NAME))
    line: int = field(metadata=_spec(minimum=0, maximum=10_000_000))
    in_app: bool = field(metadata=_spec())


@dataclass(frozen=True)
class Stack:
    """Trimmed frames, innermost last (as Python prints them), and how many were left out."""

    frames: tuple[Frame, ...] = field(metadata=_spec(max_items=LIMITS["max_frames"]))
    elided: int = field(default=0, metadata=_spec(minimum=0, maximum=1_000_000))


@dataclass(frozen=True)
class ChainedError:
    """An exception that led to the reported one (``__cause__`` or ``__context__``)."""

    relation: Literal["cause", "context"] = field(metadata=_spec())
    crash_type: str = field(metadata=_spec(**_NAME))
    error_code: str | None = field(default=None, metadata=_spec(pattern=_CODE_PATTERN))
    message: str | None = field(default=None, metadata=_spec(**_TEXT))
    stack: Stack | None = field(default=None, metadata=_spec())


@dataclass(frozen=True)
class Environment:
    """The sanitized environment: nothing beyond these five coarse values."""

    os_family: str = field(metadata=_spec(max_length=32))
    os_version: str = field(metadata=_spec(max_length=32))
    python_impl: str = field(metadata=_spec(max_length=32))
    python_version: str = field(metadata=_spec(max_length=16))
    arch: str = field(metadata=_spec(max_length=32))


@dataclass(frozen=True)
class Breadcrumb:
    """A step the app took before the crash, ``offset_s`` seconds before it."""

    offset_s: int = field(metadata=_spec(minimum=0, maximum=86_400))
    category: str = field(metadata=_spec(max_length=64))
    message: str = field(metadata=_spec(**_TEXT))


@dataclass(frozen=True)
class Tag:
    """A tag the app set whose key the policy allowlists (``fields.tags.keys``); the value redacted."""

    key: str = field(metadata=_spec(max_length=32, pattern=TAG_KEY_PATTERN))
    value: str = field(metadata=_spec(max_length=200))


@dataclass(frozen=True)
class SourceLine:
    """The source line of the in-app frame ``frame`` (an index into ``stack.frames``)."""

    frame: int = field(metadata=_spec(minimum=0, maximum=LIMITS["max_frames"] - 1))
    line: str = field(metadata=_spec(max_length=256))


@dataclass(frozen=True)
class Report:
    """A crash report. Optional fields are ``None`` when the consent level or policy omits them."""

    schema_version: int = field(metadata=_spec(minimum=1, maximum=1))
    policy_digest: str = field(metadata=_spec(pattern=_DIGEST_PATTERN))
    consent_level: str = field(metadata=_spec(pattern=_LEVEL_PATTERN))
    report_id: str = field(metadata=_spec(pattern=_UUID_PATTERN))
    crash_type: str = field(metadata=_spec(**_NAME))
    fingerprint: str = field(metadata=_spec(pattern=_FINGERPRINT_PATTERN))
    error_code: str | None = field(default=None, metadata=_spec(pattern=_CODE_PATTERN))
    mechanism: Literal["excepthook", "thread", "asyncio", "unraisable", "native", "logging", "manual", "rejection",
                       "framework", "web", "celery", "rq", "tkinter", "qt", "ipython", "multiprocessing",
                       "future"] | None = field(default=None, metadata=_spec())
    stack: Stack | None = field(default=None, metadata=_spec())
    chain: tuple[ChainedError, ...] | None = field(default=None, metadata=_spec(max_items=LIMITS["max_chain"]))
    occurred_hour: str | None = field(default=None, metadata=_spec(pattern=_HOUR_PATTERN))
    release: str | None = field(default=None, metadata=_spec(max_length=128))
    environment: Environment | None = field(default=None, metadata=_spec())
    install_id: str | None = field(default=None, metadata=_spec(pattern=_PSEUDONYM_PATTERN))
    client_stats: dict[str, int] | None = field(
        default=None, metadata=_spec(max_items=LIMITS["max_client_stats"], key_pattern=_STAT_KEY_PATTERN,
                                     minimum=0, maximum=1_000_000_000))
    comment: str | None = field(default=None, metadata=_spec(**_TEXT))
    message: str | None = field(default=None, metadata=_spec(**_TEXT))
    breadcrumbs: tuple[Breadcrumb, ...] | None = field(default=None,
                                                       metadata=_spec(max_items=LIMITS["max_breadcrumbs"]))
    # -- request context (web integrations, ``sdk/integrations``): never the URL itself --
    route: str | None = field(default=None, metadata=_spec(**_NAME))
    http_method: str | None = field(default=None, metadata=_spec(pattern=_METHOD_PATTERN))
    status_code: int | None = field(default=None, metadata=_spec(minimum=100, maximum=599))
    handler: str | None = field(default=None, metadata=_spec(**_NAME))
    # -- task context (task integrations: Celery, RQ): never the task's arguments or result --
    #: The failed task's registered name (Celery, RQ): never its arguments, result or broker. The SDK
    #: sends only dotted code names; the server cannot know that, and redacts it like a crash type.
    task_name: str | None = field(default=None, metadata=_spec(max_length=200))
    #: How many times the failed task had been retried before this failure.
    task_retries: int | None = field(default=None, metadata=_spec(minimum=0, maximum=1_000_000))
    # Fields an app's own crash reporter sets (the Sentry bridge maps them; the crashveil SDK does not).
    dist: str | None = field(default=None, metadata=_spec(max_length=64))
    deployment: str | None = field(default=None, metadata=_spec(max_length=64))
    severity: Literal["fatal", "error", "warning", "info", "debug"] | None = field(default=None, metadata=_spec())
    logger: str | None = field(default=None, metadata=_spec(max_length=128))
    platform: str | None = field(default=None, metadata=_spec(pattern=_PLATFORM_PATTERN))
    handled: bool | None = field(default=None, metadata=_spec())
    device_class: Literal["desktop", "mobile", "tablet", "tv", "watch", "server", "other"] | None = field(
        default=None, metadata=_spec())
    transaction: str | None = field(default=None, metadata=_spec(**_NAME))
    tags: tuple[Tag, ...] | None = field(default=None, metadata=_spec(max_items=MAX_TAGS))
    grouping: tuple[str, ...] | None = field(default=None, metadata=_spec(max_items=MAX_GROUPING_PARTS))
    message_template: str | None = field(default=None, metadata=_spec(**_TEXT))
    source_context: tuple[SourceLine, ...] | None = field(default=None,
                                                          metadata=_spec(max_items=LIMITS["max_frames"]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``None`` fields are left out."""
        return _to_plain(self)  # type: ignore[no-any-return]

    def to_json(self) -> bytes:
        """Canonical JSON (compact UTF-8, sorted keys): stable bytes for the same report."""
        from crashveil.wire.canonical import canonical_json

        return canonical_json(self.to_dict())

    def present_fields(self) -> tuple[str, ...]:
        """Names of the top-level fields this report carries."""
        return tuple(f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None)

    def restricted_to(self, allowed: Sequence[str]) -> Report:
        """A copy keeping only the ``allowed`` fields (the policy allowlist at a level).

        Messages inside the chain belong to the ``message`` field, so they go when it does.
        Required fields cannot be removed.
        """
        changes: dict[str, Any] = {}
        for name in self.present_fields():
            if name not in allowed and name not in REQUIRED_FIELDS:
                changes[name] = None
        if "message" not in allowed and self.chain:
            chain = changes.get("chain", self.chain)
            if chain:
                changes["chain"] = tuple(dataclasses.replace(c, message=None) for c in chain)
        return dataclasses.replace(self, **changes) if changes else self


#: Every top-level field of the wire format, in declaration order.
REPORT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Report))
#: Fields an integration may fill from the context of the crash (``CrashRecord.context``), each
#: still subject to the allowlist at the consent level.
CONTEXT_FIELDS: tuple[str, ...] = ("route", "http_method", "status_code", "handler", "task_name", "task_retries")
#: Fields every report carries whatever the level: the policy must declare them at its lowest level.
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Report) if f.default is dataclasses.MISSING)


def report_from_json(data: bytes | str, *, drop_unknown: bool = False) -> tuple[Report, tuple[str, ...]]:
    """Parse wire JSON into a ``Report``; returns it with the paths of unknown keys dropped.

    Raises:
        ReportError: too large, not JSON, too deep, or a field breaks its rule; ``.field``
            is the path of the first offending field.
    """
    import json

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > LIMITS["max_report_bytes"]:
        raise ReportError("", "too_large", f"report is larger than {LIMITS['max_report_bytes']} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError("", "invalid_utf8", f"report is not valid UTF-8 (byte {exc.start})") from exc
    try:
        parsed = json.loads(text)
    except RecursionError as exc:
        raise ReportError("", "too_deep", f"nesting deeper than {LIMITS['max_depth']}") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise ReportError("", "invalid_json", "report is not valid JSON") from exc
    return parse_report(parsed, drop_unknown=drop_unknown)


def parse_report(data: Any, *, drop_unknown: bool = False) -> tuple[Report, tuple[str, ...]]:
    """Validate a decoded JSON value as a ``Report``.

    With ``drop_unknown`` unknown keys are dropped and their paths returned (the server counts
    them); otherwise the first unknown key is a ``ReportError``.
    """
    if json_depth(data, LIMITS["max_depth"] + 1) > LIMITS["max_depth"]:
        raise ReportError("", "too_deep", f"nesting deeper than {LIMITS['max_depth']}")
    dropped: list[str] = []
    report = _build(Report, data, "", drop_unknown, dropped)
    return report, tuple(dropped)


# -- generic strict (de)serialisation driven by the dataclass fields and their metadata ----

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


#: Dataclass type -> its field names, so ``to_json`` (on every capture) asks ``dataclasses`` once per type.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


def _to_plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        plain = {}
        for name in names:
            item = getattr(value, name)
            if item is not None:
                plain[name] = _to_plain(item)
        return plain
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, tuple):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    return value


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counting stops past ``limit`` (iterative: no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _build(cls: type, data: Any, path: str, drop_unknown: bool, dropped: list[str]) -> Any:
    if not isinstance(data, dict):
        raise ReportError(path, "wrong_type", "expected an object")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key in data:
        if key not in known:
            where = _join(path, key if isinstance(key, str) and len(key) <= 64 else "<key>")
            if not drop_unknown:
                raise ReportError(where, "unknown_field", "not a field of the report format")
            dropped.append(where)
    for name, fld in known.items():
        where = _join(path, name)
        if name not in data or data[name] is None:
            if fld.default is dataclasses.MISSING:
                raise ReportError(where, "missing", "required field is missing")
            continue
        kwargs[name] = _convert(hints[name], data[name], where, fld.metadata.get("spec", {}), drop_unknown, dropped)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, path: str, spec: Mapping[str, Any], drop_unknown: bool, dropped: list[str]) -> Any:
    origin = get_origin(hint)
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        return _convert(options[0], value, path, spec, drop_unknown, dropped)
    if origin is Literal:
        if value not in get_args(hint):
            raise ReportError(path, "bad_value", f"expected one of: {', '.join(map(str, get_args(hint)))}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ReportError(path, "wrong_type", "expected an array")
        if len(value) > spec.get("max_items", 1 << 30):
            raise ReportError(path, "too_many", f"more than {spec['max_items']} items")
        item_type = get_args(hint)[0]
        return tuple(_convert(item_type, item, f"{path}[{index}]", {}, drop_unknown, dropped)
                     for index, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ReportError(path, "wrong_type", "expected an object")
        if len(value) > spec.get("max_items", 1 << 30):
            raise ReportError(path, "too_many", f"more than {spec['max_items']} entries")
        result = {}
        for key, item in value.items():
            if find_unsafe(key) >= 0:
                raise ReportError(path, *CONTROL_CHARACTER)
            if not re.match(spec["key_pattern"], key):
                raise ReportError(path, "bad_key", "keys must be short lower-case names")
            result[key] = _convert(int, item, _join(path, key), spec, drop_unknown, dropped)
        return result
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path, drop_unknown, dropped)
    if hint is bool:
        if not isinstance(value, bool):
            raise ReportError(path, "wrong_type", "expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReportError(path, "wrong_type", "expected an integer")
        if value < spec.get("minimum", -(1 << 62)) or value > spec.get("maximum", 1 << 62):
            raise ReportError(path, "out_of_range", f"expected {spec.get('minimum')}..{spec.get('maximum')}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ReportError(path, "wrong_type", "expected a string")
        if len(value) > spec.get("max_length", LIMITS["max_message_chars"]):
            raise ReportError(path, "too_long", f"longer than {spec.get('max_length')} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReportError(path, "invalid_string", "contains a lone surrogate") from exc
        if not spec.get("free_text") and find_unsafe(value) >= 0:
            raise ReportError(path, *CONTROL_CHARACTER)
        if "pattern" in spec and not re.match(spec["pattern"], value):
            raise ReportError(path, "bad_format", "does not have the required form")
        return value
    raise TypeError(f"unsupported type in the report format: {hint!r}")  # a bug in this module


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- JSON Schema -------------------------------------------------------------------------

def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the wire format, generated from the dataclasses."""
    definitions: dict[str, Any] = {}
    root = _schema_for_class(Report, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://crashveil.invalid/schemas/report-v1.json",
        "title": "crashveil crash report, wire format v1",
        **root,
        "$defs": definitions,
    }


def _schema_for_class(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    properties = {}
    required = []
    for fld in dataclasses.fields(cls):
        properties[fld.name] = _schema_for(hints[fld.name], fld.metadata.get("spec", {}), definitions)
        if fld.default is dataclasses.MISSING:
            required.append(fld.name)
    return {"type": "object", "description": (cls.__doc__ or "").strip().splitlines()[0],
            "properties": properties, "required": required, "additionalProperties": False}


def _schema_for(hint: Any, spec: Mapping[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(hint)
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        return _schema_for(options[0], spec, definitions)
    if origin is Literal:
        return {"enum": list(get_args(hint))}
    if origin is tuple:
        schema: dict[str, Any] = {"type": "array", "items": _schema_for(get_args(hint)[0], {}, definitions)}
        if "max_items" in spec:
            schema["maxItems"] = spec["max_items"]
        return schema
    if origin is dict:
        return {"type": "object", "maxProperties": spec["max_items"],
                "propertyNames": {"pattern": spec["key_pattern"]},
                "additionalProperties": {"type": "integer", "minimum": spec["minimum"], "maximum": spec["maximum"]}}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in definitions:
            definitions[name] = _schema_for_class(hint, definitions)
        return {"$ref": f"#/$defs/{name}"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer", **{k: spec[k] for k in ("minimum", "maximum") if k in spec}}
    if hint is str:
        schema = {"type": "string", "maxLength": spec.get("max_length", LIMITS["max_message_chars"])}
        if "pattern" in spec:
            schema["pattern"] = spec["pattern"]
        return schema
    raise TypeError(f"unsupported type in the report format: {hint!r}")
