"""Deletion requests from SDKs: the strict parse of an opened request, and the signed
confirmation the server answers with.

The answer is the same whether the pseudonyms had reports or not: it names the request,
the project and when it was processed, never how many reports went. Nothing in the
request proves that it comes from the installation (the SDK destroys the install secret
before it sends it, and anyone with the DSN can seal one), so a count would tell anyone
who knows a pseudonym whether it has reports; the count is kept in the audit trail (and
``deletion_requests``) only.
"""

from __future__ import annotations

import base64
import json
import re

from crashveil.errors import ReportRejected
from crashveil.server.ingest.rejections import reject
from crashveil.wire.protocol import MAX_DELETION_IDS

__all__ = ["confirmation", "parse_deletion_request"]

_UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_PSEUDONYM_RE = re.compile(r"^[0-9a-f]{32}$")


def parse_deletion_request(payload: bytes) -> tuple[str, tuple[str, ...]]:
    """``(request_id, install_ids)`` of an opened deletion request; strict, 400 otherwise."""
    def bad(field: str | None, message: str) -> ReportRejected:
        return reject("bad_deletion_request", message, status=400, field=field)

    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad(None, "the deletion request is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise bad(None, "expected an object")
    extra = sorted(k for k in data if k not in ("request_id", "install_ids"))
    if extra:
        raise bad(None, "unknown keys in the deletion request (expected request_id and install_ids)")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _UUID4_RE.match(request_id):
        raise bad("request_id", "expected a lower-case UUID4")
    ids = data.get("install_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_DELETION_IDS:
        raise bad("install_ids", f"expected an array of 1 to {MAX_DELETION_IDS} install ids")
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not _PSEUDONYM_RE.match(value):
            raise bad(f"install_ids[{index}]", "expected 32 lower-case hex digits")
    return request_id, tuple(dict.fromkeys(ids))



def confirmation(request_id: str, signed: bytes, signature: bytes) -> dict[str, str]:
    """The answer to a processed deletion request: the signed record and its signature, in
    base64url without padding."""
    return {
        "request_id": request_id,
        "status": "processed",
        "record": base64.urlsafe_b64encode(signed).rstrip(b"=").decode(),
        "confirmation": base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
    }
