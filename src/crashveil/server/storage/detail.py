"""A report's detail at rest: its JSON, sealed under the day's data key, and opened again.

At rest, a report's details (everything but the aggregate columns) are JSON, then
encrypted with AES-256-GCM under the project's data key for the received day, with
associated data binding project, report id and day (``crashveil.server.keys.crypto``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Sequence
from typing import Any

import msgspec

from crashveil.server.keys.crypto import decrypt_detail, detail_aad, encrypt_detail
from crashveil.server.storage.records import StoredDetail
from crashveil.wire import Report, parse_report

__all__ = ["detail_json", "key_digest", "open_detail", "seal_detail"]


def seal_detail(dek: bytes, plaintext: bytes, project_id: str, report_id: str, day: str) -> bytes:
    """``plaintext`` encrypted under the day's data key, bound to project, report and day."""
    return encrypt_detail(dek, plaintext, aad=detail_aad(project_id, report_id, day))


def key_digest(dek: bytes) -> bytes:
    """Names a data key in a ``StoreRow`` without carrying the key itself."""
    return hashlib.blake2b(dek, digest_size=16, person=b"crashveil-dek").digest()


def open_detail(dek: bytes, blob: bytes, project_id: str, report_id: str, day: str,
                install_id: str | None) -> StoredDetail:
    """The stored report and the server's notes, decrypted from ``blob``."""
    data = json.loads(decrypt_detail(dek, blob, aad=detail_aad(project_id, report_id, day)))
    body = dict(data["report"])
    if install_id is not None:
        body["install_id"] = install_id
    report, _ = parse_report(body)
    server = data.get("server", {})
    return StoredDetail(report, tuple(server.get("dropped_fields", ())), server.get("client_fingerprint"),
                        {k: v for k, v in server.items() if k not in ("dropped_fields", "client_fingerprint")})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: Dataclasses msgspec may encode as they are: no field of theirs, at any depth, can be None,
#: so its output equals ``Report.to_dict``'s (which leaves ``None`` fields out).
_NATIVE: dict[type, bool] = {}
_SCALARS = frozenset({str, int, float, bool})


def _never_none(hint: Any) -> bool:
    """Whether values of type ``hint`` can never be or hold a ``None`` field."""
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        return True
    if origin is typing.Literal:
        return None not in typing.get_args(hint)
    if origin is tuple:
        return all(_never_none(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    if origin is dict:
        return all(_never_none(arg) for arg in typing.get_args(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _is_native(hint)
    return False  # Optional, unions, anything else


def _is_native(cls: type) -> bool:
    native = _NATIVE.get(cls)
    if native is None:
        _NATIVE[cls] = False  # while its own fields are looked at (recursive types)
        hints = typing.get_type_hints(cls)
        native = _NATIVE[cls] = all(_never_none(hints[f.name]) for f in dataclasses.fields(cls))
    return native


def _plain(value: Any) -> Any:
    """``Report.to_dict``'s value for msgspec to encode: the same JSON, ~3x faster.

    Dataclasses that can hold ``None`` become dicts without their ``None`` fields; the
    others (frames, stacks, environments, breadcrumbs) are left for msgspec to encode in C.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if isinstance(value, (tuple, list)):
            return [_plain(item) for item in value]
        if isinstance(value, dict):
            return {key: _plain(item) for key, item in value.items()}
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return value
        names = _FIELD_NAMES[kind] = () if _is_native(kind) else tuple(f.name for f in dataclasses.fields(value))
    if not names:
        return value  # native: msgspec encodes it as it is
    out = {}
    for name in names:
        item = getattr(value, name)
        if item is not None:
            out[name] = item if type(item) in _SCALARS else _plain(item)
    return out


def detail_json(report: Report, fingerprint: str, dropped_fields: Sequence[str]) -> bytes:
    """The plaintext of a report's detail: the report (its ``install_id`` left out: that is a
    column) and what the server noted (a replaced client fingerprint, dropped fields)."""
    body = _plain(report)
    body.pop("install_id", None)  # kept in its column, for erasure; not twice
    server: dict[str, Any] = {}
    if body.get("fingerprint") != fingerprint:
        server["client_fingerprint"] = body["fingerprint"]
        body["fingerprint"] = fingerprint
    if dropped_fields:
        server["dropped_fields"] = list(dropped_fields)
    # The bytes crashveil.wire.canonical.canonical_json writes (compact UTF-8 JSON, sorted
    # keys), ~5x faster; tests/server/ingest/test_write_path.py holds the two to the same bytes.
    return msgspec.json.encode({"report": body, "server": server}, order="sorted")
