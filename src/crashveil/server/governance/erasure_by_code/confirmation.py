"""The signed erasure confirmation as a document a person keeps, and its verification.

The ingest side answers an SDK's deletion request with ``{"request_id", "status", "record",
"confirmation"}``: ``record`` is canonical JSON (request id, project id, processing time) and
``confirmation`` its Ed25519 signature by the project's config signing key (``ingest/deletion.py``).
An erasure by installation code (``erase.py``) signs the same kind of record, with one
more key, ``installation``: a digest of the code (``wire.install_code.code_digest``), so the
person can see the confirmation is about their code while it tells no one else anything. The
document handed to the person adds ``signing_key``, the public key string to check it against
(the one the app's connection string pins); :func:`verify_document` trusts only keys it is given.

Neither the record nor the document says how many reports went (the same answer whether there
were reports or not); that count is in the audit trail only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crashveil.errors import ConfirmationInvalid
from crashveil.wire.canonical import canonical_json
from crashveil.wire.keyfmt import parse_key_string
from crashveil.wire.protocol import PROJECT_ID_PATTERN

__all__ = ["DOCUMENT_KEYS", "SignFunction", "VerifiedConfirmation", "claimed_project", "confirmation_document",
           "parse_document", "verify_document"]

#: Signs bytes with the project's config signing key (``SigningKey.sign``).
SignFunction = Callable[[bytes], bytes]

#: The keys of a confirmation document, all strings.
DOCUMENT_KEYS = ("request_id", "status", "record", "confirmation", "signing_key")
_MAX_DOCUMENT = 4096


@dataclass(frozen=True)
class VerifiedConfirmation:
    """What a confirmation whose signature verified states."""

    request_id: str
    project_id: str
    processed_at: str
    installation: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def confirmation_document(request_id: str, project_id: str, processed_at: datetime, *, sign: SignFunction,
                          signing_key: str, installation: str | None = None) -> dict[str, str]:
    """The signed confirmation of an erasure, as the document handed to the person."""
    record: dict[str, str] = {"request_id": request_id, "project_id": project_id,
                              "processed_at": processed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if installation is not None:
        record["installation"] = installation
    signed = canonical_json(record)
    return {"request_id": request_id, "status": "processed", "record": _b64(signed),
            "confirmation": _b64(sign(signed)), "signing_key": signing_key}


def _unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value.isascii():
        raise ConfirmationInvalid(f"{name!r} is missing or not a string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ConfirmationInvalid(f"{name!r} is not base64url") from None


def parse_document(text: bytes | str) -> Mapping[str, object]:
    """A confirmation document's JSON object; :class:`ConfirmationInvalid` otherwise."""
    if len(text) > _MAX_DOCUMENT:
        raise ConfirmationInvalid(f"longer than {_MAX_DOCUMENT} bytes: not a confirmation")
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ConfirmationInvalid("not JSON") from None
    if not isinstance(data, dict):
        raise ConfirmationInvalid("not a JSON object")
    return data


def claimed_project(document: Mapping[str, object]) -> str:
    """The project the (not yet verified) record names: whose signing keys to check it against."""
    try:
        record = json.loads(_unb64(document.get("record"), "record"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ConfirmationInvalid("'record' is not signed JSON") from None
    project_id = record.get("project_id") if isinstance(record, dict) else None
    if not isinstance(project_id, str) or not re.fullmatch(PROJECT_ID_PATTERN, project_id):
        raise ConfirmationInvalid("'record' names no valid project")
    return project_id


def verify_document(document: Mapping[str, object], trusted_keys: Sequence[str]) -> VerifiedConfirmation:
    """Check ``document``'s signature against ``trusted_keys`` (``ed25519:`` strings: the project's
    signing keys, current and retired); what it states, or :class:`ConfirmationInvalid`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signed = _unb64(document.get("record"), "record")
    signature = _unb64(document.get("confirmation"), "confirmation")
    for key in trusted_keys:
        _, raw = parse_key_string(key, ("ed25519",), key="signing key")
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, signed)
        except (InvalidSignature, ValueError):
            continue
        return _stated(signed, document.get("request_id"))
    raise ConfirmationInvalid("the signature does not verify with the project's signing keys")


def _stated(signed: bytes, request_id: object) -> VerifiedConfirmation:
    try:
        record = json.loads(signed)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ConfirmationInvalid("'record' is not JSON") from None
    if not isinstance(record, dict) or record.get("request_id") != request_id:
        raise ConfirmationInvalid("the signed record does not name the document's request id")
    values = {name: record.get(name) for name in ("project_id", "processed_at")}
    installation = record.get("installation")
    if not all(isinstance(value, str) for value in values.values()) or not isinstance(installation, (str, type(None))):
        raise ConfirmationInvalid("the signed record lacks its project or time")
    return VerifiedConfirmation(str(request_id), str(values["project_id"]), str(values["processed_at"]), installation)
