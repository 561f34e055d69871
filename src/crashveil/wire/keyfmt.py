"""Key strings and the sealed-report envelope, shared by the SDK and the server.

Standard library only, at import time and at call time: the SDK parses its pinned keys with
this module before ``cryptography`` is ever loaded, and the server uses the same definitions
to open what the SDK sealed. The format lives here and nowhere else.

Key strings
    ``<algorithm>:<key>``, the key being unpadded base64url (RFC 4648 section 5) of raw bytes.

    ==================  ==========  ==================================================
    algorithm           raw bytes   contents
    ==================  ==========  ==================================================
    ``mlkem768x25519``  1216        ML-KEM-768 encapsulation key (1184, FIPS 203)
                                    followed by the X25519 public key (32, RFC 7748)
    ``x25519``          32          X25519 public key
    ``ed25519``         32          Ed25519 public key (RFC 8032), signs remote config
    ==================  ==========  ==================================================

Sealed envelope, version 1 (``CVS1``)
    ======  =======  ===========================================================
    offset  length   field
    ======  =======  ===========================================================
    0       4        magic ``b"CVS1"`` (the trailing ``1`` is the format version)
    4       1        suite id: ``0x01`` X25519, ``0x02`` ML-KEM-768+X25519; both
                     with HKDF-SHA256 and AES-256-GCM
    5       rest     HPKE (RFC 9180, base mode, single shot) output:
                     ``enc`` (32 bytes for X25519, 1120 for the hybrid KEM), then
                     the AEAD ciphertext with its 16-byte tag
    ======  =======  ===========================================================

HPKE ``info``
    ``b"crashveil/report/v1\\x00" || header (the 5 bytes above) || u16 length of project id ||
    project id (UTF-8) || u32 schema version`` (integers big-endian).

    pyca/cryptography's public HPKE API takes ``info`` but no per-message associated data
    (only private ``_encrypt_with_aad`` helpers exist). RFC 9180 section 8.1 says single-shot
    users should carry auxiliary authenticated data in ``info``: it enters the key schedule,
    so a report sealed for another project, another schema version or under a swapped header
    derives a different key and fails to open. For us that is the same guarantee as AAD.

The hybrid suite needs ``cryptography`` >= 48 from PyPI (47 lacks ML-KEM on OpenSSL builds).
"""

from __future__ import annotations

import base64
import binascii
import struct

from crashveil._frozen import Frozen
from crashveil.errors import ConfigError

__all__ = [
    "DEFAULT_SUITE",
    "ENVELOPE_MAGIC",
    "SUITES",
    "ProjectPublicKey",
    "SealSuite",
    "envelope_header",
    "envelope_info",
    "format_key_string",
    "parse_key_string",
    "split_envelope",
]


class SealSuite(Frozen):
    """One HPKE suite we seal with: its name in key strings, its envelope id, its algorithms.

    ``kem``, ``kdf`` and ``aead`` are attribute names on ``cryptography``'s ``hpke.KEM``,
    ``hpke.KDF`` and ``hpke.AEAD``, so this module needs no import of ``cryptography``.
    ``SealSuite(name, suite_id, kem, kdf, aead, public_key_bytes, enc_bytes)``; immutable.
    """

    __slots__ = ("name", "suite_id", "kem", "kdf", "aead", "public_key_bytes", "enc_bytes")
    name: str
    suite_id: int
    kem: str
    kdf: str
    aead: str
    public_key_bytes: int
    enc_bytes: int


ENVELOPE_MAGIC = b"CVS1"
_HEADER_BYTES = len(ENVELOPE_MAGIC) + 1
_AEAD_TAG_BYTES = 16
_INFO_LABEL = b"crashveil/report/v1\x00"
_MAX_PROJECT_ID_BYTES = 0xFFFF
_MAX_SCHEMA_VERSION = 0xFFFFFFFF

SUITES: dict[str, SealSuite] = {
    "mlkem768x25519": SealSuite(
        "mlkem768x25519", 0x02, "MLKEM768_X25519", "HKDF_SHA256", "AES_256_GCM", 1184 + 32, 1088 + 32
    ),
    "x25519": SealSuite("x25519", 0x01, "X25519", "HKDF_SHA256", "AES_256_GCM", 32, 32),
}
DEFAULT_SUITE = "mlkem768x25519"
_SUITES_BY_ID = {suite.suite_id: suite for suite in SUITES.values()}

# Every algorithm a key string may name, with the raw length of its public key.
_KEY_BYTES = {**{name: suite.public_key_bytes for name, suite in SUITES.items()}, "ed25519": 32}


def format_key_string(algorithm: str, raw: bytes) -> str:
    """``"<algorithm>:<unpadded base64url of raw>"``."""
    return algorithm + ":" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_key_string(text: object, algorithms: tuple[str, ...], *, key: str) -> tuple[str, bytes]:
    """Split a key string into ``(algorithm, raw bytes)``, checking algorithm and length.

    Raises :class:`ConfigError` naming ``key`` (the option that held the string) and what is
    wrong. The string itself is never echoed, in case a secret was pasted by mistake.
    """
    expected = " or ".join(f"'{name}:<base64url>'" for name in algorithms)
    if not isinstance(text, str):
        raise ConfigError(key, f"is a {type(text).__name__}, not a key string", expected)
    algorithm, sep, encoded = text.strip().partition(":")
    if not sep:
        raise ConfigError(key, "has no '<algorithm>:' prefix", expected)
    if algorithm not in algorithms:
        if algorithm in _KEY_BYTES:  # a name we define is safe to repeat
            raise ConfigError(key, f"is an {algorithm} key, which cannot be used here", expected)
        raise ConfigError(key, "names an unknown algorithm", expected)
    raw = _b64url_decode(encoded)
    if raw is None:
        raise ConfigError(key, "is not valid unpadded base64url after the prefix", expected)
    if len(raw) != _KEY_BYTES[algorithm]:
        raise ConfigError(
            key, f"decodes to {len(raw)} bytes", f"{_KEY_BYTES[algorithm]} bytes for {algorithm}"
        )
    return algorithm, raw


def _b64url_decode(encoded: str) -> bytes | None:
    """Strict, canonical, unpadded base64url; ``None`` if ``encoded`` is anything else."""
    if not encoded or len(encoded) % 4 == 1 or not encoded.isascii():
        return None
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # Re-encoding rejects non-zero padding bits, so each key has exactly one spelling.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != encoded:
        return None
    return raw


class ProjectPublicKey(Frozen):
    """A project's public sealing key: the suite and the raw public key bytes.

    Build it with :meth:`parse` from the string the SDK is configured with.
    ``ProjectPublicKey(suite, raw)``; immutable, compared by value, ``raw`` not in the repr.
    """

    __slots__ = ("suite", "raw")
    _hidden = ("raw",)
    suite: str
    raw: bytes

    def __init__(self, suite: str, raw: bytes) -> None:
        super().__init__(suite, raw)
        if self.suite not in SUITES:
            raise ConfigError("public_key", "names an unknown suite", " or ".join(SUITES))
        if not isinstance(self.raw, bytes) or len(self.raw) != SUITES[self.suite].public_key_bytes:
            raise ConfigError(
                "public_key", "has the wrong length", f"{SUITES[self.suite].public_key_bytes} bytes"
            )

    @classmethod
    def parse(cls, text: str, *, key: str = "public_key") -> ProjectPublicKey:
        """Parse ``"mlkem768x25519:<base64url>"`` or ``"x25519:<base64url>"``."""
        suite, raw = parse_key_string(text, tuple(SUITES), key=key)
        return cls(suite, raw)

    def __str__(self) -> str:
        return format_key_string(self.suite, self.raw)


def envelope_header(suite: str) -> bytes:
    """The 5-byte header of an envelope sealed with ``suite``."""
    return ENVELOPE_MAGIC + bytes([SUITES[suite].suite_id])


def split_envelope(sealed: bytes) -> tuple[SealSuite, bytes, bytes]:
    """``(suite, header, HPKE output)`` of a sealed envelope; ``ValueError`` if malformed."""
    if not isinstance(sealed, (bytes, bytearray, memoryview)):
        raise ValueError("not bytes")
    sealed = bytes(sealed)
    if sealed[: len(ENVELOPE_MAGIC)] != ENVELOPE_MAGIC or len(sealed) < _HEADER_BYTES:
        raise ValueError("bad magic")
    suite = _SUITES_BY_ID.get(sealed[len(ENVELOPE_MAGIC)])
    if suite is None:
        raise ValueError("unknown suite")
    if len(sealed) < _HEADER_BYTES + suite.enc_bytes + _AEAD_TAG_BYTES:
        raise ValueError("too short")
    return suite, sealed[:_HEADER_BYTES], sealed[_HEADER_BYTES:]


def envelope_info(header: bytes, *, project_id: str, schema_version: int) -> bytes:
    """The HPKE ``info`` binding header, project id and schema version (see module doc)."""
    if not isinstance(project_id, str) or not isinstance(schema_version, int):
        raise TypeError("project_id must be str and schema_version int")
    project = project_id.encode("utf-8")
    if not project or len(project) > _MAX_PROJECT_ID_BYTES:
        raise ValueError("project id length out of range")
    if isinstance(schema_version, bool) or not 0 <= schema_version <= _MAX_SCHEMA_VERSION:
        raise ValueError("schema version out of range")
    return (
        _INFO_LABEL
        + header
        + struct.pack(">H", len(project))
        + project
        + struct.pack(">I", schema_version)
    )
