"""Server-side cryptographic recipes: open sealed reports, encrypt at rest, sign config.

Pure functions and small key classes, no storage: ``server/keys/ring.py`` decides where keys live
and when they rotate; this module only knows how to use them.

Opening reports
    :func:`open_report` reverses :func:`crashveil.sdk.delivery.seal.seal_report` (envelope ``CVS1``,
    see :mod:`crashveil.wire.keyfmt`). It tries every key pair of the envelope's suite, so old and
    new keys overlap during rotation. Every failure is the same :class:`SealError`.

Private project keys (:meth:`ProjectKeyPair.private_bytes`), version 1
    ``b"CVK1" || suite id (1 byte, as in the envelope) || key material``; the material is the
    32-byte X25519 private key for ``x25519``, and the 64-byte ML-KEM-768 seed (FIPS 203
    ``d || z``) followed by the 32-byte X25519 private key for ``mlkem768x25519``. Secret:
    the caller stores it encrypted or in a file only the server can read.

Envelope encryption at rest
    Each day has a data key (DEK, 32 random bytes). Details are compressed with Zstandard
    (format 1, still read, used zlib), then sealed with AES-256-GCM under the DEK; the
    caller's AAD (:func:`detail_aad`: project, report id, day) ties a blob to its row. The
    DEK is stored wrapped by the key-encryption key (KEK), also with AES-256-GCM, its
    ``key_id`` as AAD. We chose GCM over AES key wrap (RFC 3394/5649) because key wrap has
    no associated data: a wrapped DEK could be moved to another day's row undetected. GCM's
    random 96-bit nonces are safe here, far below the 2**32 messages per key NIST SP 800-38D
    allows: a KEK wraps one DEK a day, a DEK seals one day's reports. Destroy the DEK and
    that day's details are gone (crypto-shredding).

    ``wrap_key`` output:      ``0x01 || nonce (12) || AES-GCM(dek) (32 + 16 tag)`` = 61 bytes
    ``encrypt_detail`` output: ``0x02 || nonce (12) || AES-GCM(zstd(plaintext)) (+16 tag)``
    (format 1, written before: ``0x01 || nonce || AES-GCM(zlib(plaintext))``, still decrypted;
    zstd compresses a ~3 KB detail ~2x faster than zlib's default level, and smaller).
    The version byte is authenticated too (it is prefixed to the AAD with a label).

Remote config signing
    :class:`SigningKey` signs the exact bytes of a config document with Ed25519; the SDK
    checks them with :func:`crashveil.sdk.delivery.seal.verify_config_signature` and a pinned key
    string ``ed25519:<base64url>``. Use the key for config only.

Versions: the hybrid suite needs ``cryptography`` >= 48.0 as published on PyPI (47.0 has
the HPKE API but enables ML-KEM only when built against AWS-LC or BoringSSL; 48.0 adds
OpenSSL >= 3.5, which its wheels bundle). ``x25519`` works from 47.0.

``cryptography`` randomness throughout: keys from its ``generate`` methods, nonces from
``os.urandom`` as its documentation prescribes.
"""

from __future__ import annotations

import functools
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crashveil.errors import ConfigError, SealError
from crashveil.wire import keyfmt
from crashveil.wire.keyfmt import ProjectPublicKey

if TYPE_CHECKING:
    import zstandard

__all__ = [
    "ProjectKeyPair",
    "SigningKey",
    "decrypt_detail",
    "detail_aad",
    "encrypt_detail",
    "new_data_key",
    "open_report",
    "unwrap_key",
    "wrap_key",
]

_OPEN_FAILED = "could not open the sealed report"
_UNWRAP_FAILED = "could not unwrap the data key"
_DECRYPT_FAILED = "could not decrypt the report detail"

_PRIVATE_MAGIC = b"CVK1"
_MLKEM_SEED_BYTES = 64
_X25519_BYTES = 32
_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_V1 = b"\x01"
#: Details only: zstd instead of zlib (see the module docstring).
_FORMAT_V2 = b"\x02"
_ZSTD_LEVEL = 3
_WRAP_LABEL = b"crashveil/dek/v1\x00"
_DETAIL_LABEL = b"crashveil/detail/v1\x00"
_DETAIL_AAD_LABEL = b"crashveil/detail-aad/v1\x00"


# --- opening sealed reports -----------------------------------------------------------------


class ProjectKeyPair:
    """A project's sealing key pair: the server keeps the private half, the SDK the public."""

    __slots__ = ("_suite", "_material", "_private_key")

    def __init__(self, suite: str, material: bytes) -> None:
        """Prefer :meth:`generate` and :meth:`from_private_bytes`; ``material`` is documented above."""
        self._suite = suite
        self._material = material
        if suite == "x25519":
            self._private_key: Any = x25519.X25519PrivateKey.from_private_bytes(material)
        else:
            self._private_key = hpke.MLKEM768X25519PrivateKey(
                _mlkem_from_seed(material[:_MLKEM_SEED_BYTES]),
                x25519.X25519PrivateKey.from_private_bytes(material[_MLKEM_SEED_BYTES:]),
            )

    @classmethod
    def generate(cls, suite: str = keyfmt.DEFAULT_SUITE) -> ProjectKeyPair:
        """A fresh key pair; ``suite`` is ``"mlkem768x25519"`` (default) or ``"x25519"``.

        :class:`ConfigError` if the suite is unknown, or is the hybrid one and the installed
        ``cryptography`` has no ML-KEM (before 48.0 its OpenSSL wheels had none).
        """
        if suite not in keyfmt.SUITES:
            raise ConfigError("suite", "is not a known sealing suite", " or ".join(keyfmt.SUITES))
        classic = x25519.X25519PrivateKey.generate().private_bytes_raw()
        if suite == "x25519":
            return cls(suite, classic)
        seed = _mlkem_from_seed(None).private_bytes_raw()
        return cls(suite, seed + classic)

    @classmethod
    def from_private_bytes(cls, data: bytes) -> ProjectKeyPair:
        """Load what :meth:`private_bytes` wrote; :class:`ConfigError` if it is not that."""
        expected = "bytes written by ProjectKeyPair.private_bytes()"
        if not isinstance(data, bytes) or data[: len(_PRIVATE_MAGIC)] != _PRIVATE_MAGIC or len(data) < 5:
            raise ConfigError("project private key", "is not a crashveil project key", expected)
        suite = next((s for s in keyfmt.SUITES.values() if s.suite_id == data[4]), None)
        if suite is None:
            raise ConfigError("project private key", "names an unknown suite", expected)
        material = data[5:]
        size = _X25519_BYTES if suite.name == "x25519" else _MLKEM_SEED_BYTES + _X25519_BYTES
        if len(material) != size:
            raise ConfigError("project private key", f"has {len(material)} bytes of key material", f"{size}")
        return cls(suite.name, material)

    @property
    def suite(self) -> str:
        """``"mlkem768x25519"`` or ``"x25519"``."""
        return self._suite

    def private_bytes(self) -> bytes:
        """The private key for storage (secret; format in the module docstring)."""
        return _PRIVATE_MAGIC + bytes([keyfmt.SUITES[self._suite].suite_id]) + self._material

    def public_key(self) -> ProjectPublicKey:
        """The public half, as the SDK uses it."""
        classic = x25519.X25519PrivateKey.from_private_bytes(self._material[-_X25519_BYTES:])
        raw = classic.public_key().public_bytes_raw()
        if self._suite != "x25519":
            pq = _mlkem_from_seed(self._material[:_MLKEM_SEED_BYTES])
            raw = pq.public_key().public_bytes_raw() + raw
        return ProjectPublicKey(self._suite, raw)

    def public_key_string(self) -> str:
        """``"<suite>:<base64url>"``, the string an app configures the SDK with."""
        return str(self.public_key())

    def __repr__(self) -> str:
        return f"<ProjectKeyPair {self._suite}>"


def _mlkem_from_seed(seed: bytes | None) -> mlkem.MLKEM768PrivateKey:
    """An ML-KEM-768 key from its 64-byte seed (a fresh one for ``None``), or a ConfigError
    naming the missing backend support."""
    try:
        if seed is None:
            return mlkem.MLKEM768PrivateKey.generate()
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
    except UnsupportedAlgorithm as exc:
        raise ConfigError(
            "suite",
            "mlkem768x25519 needs ML-KEM-768, which this cryptography build does not support",
            "cryptography >= 48 built with OpenSSL >= 3.5, AWS-LC or BoringSSL; or suite x25519",
        ) from exc


@functools.cache
def _hpke_suite(name: str) -> hpke.Suite:
    spec = keyfmt.SUITES[name]
    return hpke.Suite(getattr(hpke.KEM, spec.kem), getattr(hpke.KDF, spec.kdf), getattr(hpke.AEAD, spec.aead))


def open_report(
    sealed: bytes, keypairs: Sequence[ProjectKeyPair], *, project_id: str, schema_version: int
) -> bytes:
    """The payload of a sealed report; tries each key pair of its suite (rotation overlap).

    Raises one opaque :class:`SealError` for every failure: malformed envelope, wrong
    project or schema version, tampering, no matching key.
    """
    try:
        spec, header, body = keyfmt.split_envelope(sealed)
        info = keyfmt.envelope_info(header, project_id=project_id, schema_version=schema_version)
        suite = _hpke_suite(spec.name)
    except Exception as exc:
        raise SealError(_OPEN_FAILED) from exc
    cause: Exception | None = None
    for keypair in keypairs:
        if getattr(keypair, "suite", None) != spec.name:
            continue
        try:
            return suite.decrypt(body, keypair._private_key, info=info)
        except Exception as exc:  # noqa: BLE001 - each suite is tried in turn; one SealError below, whatever the cause
            cause = exc
    raise SealError(_OPEN_FAILED) from cause


# --- envelope encryption at rest ------------------------------------------------------------


def new_data_key() -> bytes:
    """A fresh 32-byte data key (AES-256)."""
    return AESGCM.generate_key(bit_length=256)


def _check_key(name: str, key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
        size = f"{len(key)} bytes" if isinstance(key, bytes) else f"a {type(key).__name__}"
        raise ConfigError(name, f"is {size}", f"{_KEY_BYTES} bytes")
    return key


def _lp(value: bytes) -> bytes:
    """Length-prefixed (u32, big-endian), so concatenations cannot be re-split."""
    return struct.pack(">I", len(value)) + value


def wrap_key(kek: bytes, dek: bytes, *, key_id: str) -> bytes:
    """``dek`` encrypted under ``kek`` and bound to ``key_id`` (61 bytes)."""
    _check_key("kek", kek)
    _check_key("dek", dek)
    nonce = os.urandom(_NONCE_BYTES)
    aad = _WRAP_LABEL + _FORMAT_V1 + _lp(key_id.encode("utf-8"))
    return _FORMAT_V1 + nonce + AESGCM(kek).encrypt(nonce, dek, aad)


def unwrap_key(kek: bytes, wrapped: bytes, *, key_id: str) -> bytes:
    """The data key that :func:`wrap_key` wrapped; :class:`SealError` on any failure."""
    try:
        if wrapped[:1] != _FORMAT_V1:
            raise ValueError("unknown format")
        nonce, body = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]
        aad = _WRAP_LABEL + _FORMAT_V1 + _lp(key_id.encode("utf-8"))
        dek = AESGCM(_check_key("kek", kek)).decrypt(nonce, body, aad)
        return _check_key("dek", dek)
    except Exception as exc:
        raise SealError(_UNWRAP_FAILED) from exc


def detail_aad(project_id: str, report_id: str, day: str) -> bytes:
    """Associated data for one stored detail: project, report id and day, length-prefixed."""
    parts = (project_id, report_id, day)
    if not all(isinstance(part, str) for part in parts):
        raise TypeError("project_id, report_id and day must be str")
    return _DETAIL_AAD_LABEL + b"".join(_lp(part.encode("utf-8")) for part in parts)


def encrypt_detail(dek: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """``plaintext`` compressed with zstd, then AES-256-GCM under ``dek``, bound to ``aad``."""
    _check_key("dek", dek)
    nonce = os.urandom(_NONCE_BYTES)
    body = AESGCM(dek).encrypt(nonce, _zstd().compress(plaintext), _DETAIL_LABEL + _FORMAT_V2 + aad)
    return _FORMAT_V2 + nonce + body


def decrypt_detail(dek: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """The plaintext :func:`encrypt_detail` sealed (format 2, or 1 written by older servers);
    :class:`SealError` on any failure."""
    try:
        version = blob[:1]
        if version != _FORMAT_V2 and version != _FORMAT_V1:
            raise ValueError("unknown format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        compressed = AESGCM(_check_key("dek", dek)).decrypt(nonce, body, _DETAIL_LABEL + version + aad)
        if version == _FORMAT_V1:
            return zlib.decompress(compressed)
        return _unzstd().decompress(compressed)
    except Exception as exc:
        raise SealError(_DECRYPT_FAILED) from exc


_ZSTD = threading.local()


def _zstd() -> zstandard.ZstdCompressor:
    """This thread's compressor (a zstd context may not be shared between threads; making
    one per call costs more than compressing a detail)."""
    try:
        return _ZSTD.compressor
    except AttributeError:
        import zstandard  # a server dependency; imported when first needed

        _ZSTD.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        return _ZSTD.compressor


def _unzstd() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (see :func:`_zstd`)."""
    try:
        return _ZSTD.decompressor
    except AttributeError:
        import zstandard

        _ZSTD.decompressor = zstandard.ZstdDecompressor()
        return _ZSTD.decompressor


# --- remote config signing ------------------------------------------------------------------


class SigningKey:
    """An Ed25519 key that signs remote config; the SDK pins its public key string."""

    __slots__ = ("_key",)

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh signing key."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> SigningKey:
        """Load the 32 raw bytes :meth:`private_bytes` wrote; :class:`ConfigError` otherwise."""
        if not isinstance(data, bytes) or len(data) != 32:
            raise ConfigError("config signing key", "is not a raw Ed25519 private key", "32 bytes")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        """The 32-byte raw private key, for storage (secret)."""
        return self._key.private_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def public_key_string(self) -> str:
        """``"ed25519:<base64url>"``, the string the SDK pins."""
        return keyfmt.format_key_string("ed25519", self._key.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        return "<SigningKey ed25519>"
