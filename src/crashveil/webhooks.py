"""Checking a webhook crashveil sent: for receivers, with ``pip install crashveil`` only.

Each request crashveil's webhook destination sends carries ``X-Crashveil-Timestamp`` (Unix
seconds) and ``X-Crashveil-Signature: v1=<hex>``: the HMAC-SHA256 of ``timestamp + "." +
body`` under the destination's secret, the way Stripe and Slack sign. The timestamp is
signed, so a request captured and replayed later is refused (``tolerance_s``), and the body
cannot be changed without the secret. Several ``v1=`` values separated by commas may be
given; one match is enough (a receiver can check against two secrets during a rotation).

Standard library only: a receiver needs neither the server extra nor ``cryptography``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from crashveil.errors import WebhookSignatureError

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify_webhook"]

TIMESTAMP_HEADER = "X-Crashveil-Timestamp"
SIGNATURE_HEADER = "X-Crashveil-Signature"


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``v1=`` signature value of ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_webhook(secret: str | bytes, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = 300,
                   now: float | None = None) -> None:
    """Check a request crashveil sent: raises :class:`WebhookSignatureError` unless the
    timestamp is within ``tolerance_s`` of ``now`` (Unix seconds; default the clock) and one
    ``v1=`` signature matches ``body`` (the raw bytes received, before any JSON parsing).

    Header names are matched without regard to case. Signatures are compared in constant time.
    """
    stamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if stamp is None or given is None:
        raise WebhookSignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not stamp.strip().isdigit():
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds")
    timestamp = int(stamp.strip())
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise WebhookSignatureError("timestamp outside the tolerance (a replayed or delayed request)")
    expected = sign(secret, timestamp, body).encode()
    matched = False
    for candidate in given.split(","):
        matched |= hmac.compare_digest(expected, candidate.strip().encode())
    if not matched:
        raise WebhookSignatureError("signature does not match")
