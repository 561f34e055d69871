"""Seal a report to the project's public key (or to a device key), check remote config signatures.

The recipe: HPKE (RFC 9180, base mode, single shot) with the suite named by the key string,
HKDF-SHA256 and AES-256-GCM, wrapped in the ``CVS1`` envelope that
:mod:`crashveil.wire.keyfmt` defines (format and ``info`` binding are documented there). The
project id and the schema version are bound through HPKE's ``info`` parameter, so a report
cannot be replayed into another project or re-read under another schema. A crash kept for
the user's review ("ask me each time") is sealed to a device key instead, with AES-256-GCM
(:func:`seal_locally`): it never leaves the device unless the user sends it.

``cryptography`` is imported on first use, never at import time: ``import crashveil`` must
stay fast for apps that never crash, or never consent.

Every failure raises one :class:`~crashveil.errors.SealError` with the same message; the
cause is chained for our own debug log (pyca/cryptography issue #4353: no error oracle).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from crashveil.errors import SealError
from crashveil.wire import keyfmt
from crashveil.wire.keyfmt import ProjectPublicKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hpke

__all__ = ["ProjectPublicKey", "open_locally", "seal_locally", "seal_report", "verify_config_signature", "warm_up"]

_SEAL_FAILED = "could not seal the report"
#: Bound as associated data into every report sealed to a device key ("ask me each time").
_LOCAL_LABEL = b"crashveil/pending/v1"


def seal_report(
    payload: bytes, public_key: ProjectPublicKey, *, project_id: str, schema_version: int
) -> bytes:
    """Encrypt ``payload`` so that only the holder of the project's private key can read it."""
    try:
        header = keyfmt.envelope_header(public_key.suite)
        info = keyfmt.envelope_info(header, project_id=project_id, schema_version=schema_version)
        suite, key = _recipient(public_key)
        return header + suite.encrypt(payload, key, info=info)
    except Exception as exc:
        raise SealError(_SEAL_FAILED) from exc


def warm_up(public_key: ProjectPublicKey) -> None:
    """Import ``cryptography`` and load ``public_key`` now, so the first seal is fast.

    The first seal in a process pays ~15 ms for importing ``cryptography``; the client can
    call this from a background thread after ``init()`` so no crash waits for it.
    """
    try:
        _recipient(public_key)
    except Exception as exc:
        raise SealError(_SEAL_FAILED) from exc


@functools.lru_cache(maxsize=8)
def _recipient(public_key: ProjectPublicKey) -> tuple[hpke.Suite, Any]:
    """The HPKE suite and the loaded public key object, built once per key (~30 us saved)."""
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    spec = keyfmt.SUITES[public_key.suite]
    suite = hpke.Suite(getattr(hpke.KEM, spec.kem), getattr(hpke.KDF, spec.kdf), getattr(hpke.AEAD, spec.aead))
    if spec.name == "x25519":
        return suite, x25519.X25519PublicKey.from_public_bytes(public_key.raw)
    pq, classic = public_key.raw[:-32], public_key.raw[-32:]
    key = hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(pq), x25519.X25519PublicKey.from_public_bytes(classic)
    )
    return suite, key


def seal_locally(payload: bytes, key: bytes) -> bytes:
    """AES-256-GCM under a 32-byte device ``key``: ``nonce || ciphertext`` (a kept crash)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, payload, _LOCAL_LABEL)


def open_locally(sealed: bytes, key: bytes) -> bytes:
    """The payload :func:`seal_locally` sealed under ``key`` (raises if it was altered)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).decrypt(sealed[:12], sealed[12:], _LOCAL_LABEL)


def verify_config_signature(data: bytes, signature: bytes, public_key_string: str) -> bool:
    """``True`` if ``signature`` is a valid Ed25519 signature of ``data`` by the pinned key.

    A malformed ``public_key_string`` is a configuration mistake and raises
    :class:`~crashveil.errors.ConfigError` (key ``remote_config_public_key``); every other
    problem (bad signature, wrong length, wrong types) returns ``False``.
    """
    _, raw = keyfmt.parse_key_string(public_key_string, ("ed25519",), key="remote_config_public_key")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True
