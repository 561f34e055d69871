"""The sealed archive: a byte stream encrypted under a passphrase, in authenticated chunks.

Layout::

    MAGIC (18 bytes)  header length (2 bytes, big-endian)  header (canonical JSON)
    chunk*            each: ciphertext length (4 bytes, big-endian) + AES-256-GCM ciphertext

The key comes from the passphrase by Argon2id (parameters and salt in the header). Of the
64 derived bytes, the first 32 are stored in the header as a verifier (so a wrong passphrase
is told apart from a corrupted archive), the last 32 are the AES key. Chunk ``i`` uses the
nonce ``prefix (7 bytes) || i (4 bytes) || last (1 byte)`` and the magic plus header as
associated data: the STREAM construction, so a chunk moved, dropped, repeated, changed or a
stream cut before its last chunk all fail to authenticate. Only one chunk (1 MiB) is in
memory at a time, so a large database never has to fit in memory.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from crashveil.errors import BackupError

__all__ = ["CHUNK_BYTES", "MAGIC", "KdfCost", "SealedReader", "SealedWriter", "is_sealed_archive"]

MAGIC = b"CRASHVEIL-BACKUP1\n"
CHUNK_BYTES = 1024 * 1024
_MAX_CHUNK = 16 * 1024 * 1024
_TAG = 16
_MAX_HEADER = 4096


@dataclass(frozen=True)
class KdfCost:
    """Argon2id cost. The default (64 MiB, 3 passes) takes about half a second; tests pass less."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


def _derive(passphrase: bytes, salt: bytes, cost: KdfCost) -> tuple[bytes, bytes]:
    """(verifier, key) from the passphrase."""
    if not passphrase:
        raise BackupError("the passphrase is empty")
    out = Argon2id(salt=salt, length=64, iterations=cost.iterations, lanes=cost.lanes,
                   memory_cost=cost.memory_kib).derive(passphrase)
    return out[:32], out[32:]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise BackupError("archive too large (more than 2^32 chunks)")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def is_sealed_archive(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts like a sealed archive."""
    return head.startswith(MAGIC)


class SealedWriter:
    """A write-only file object that seals what is written to ``out``; :meth:`close` writes
    the last chunk (without it the archive reads as truncated). ``out`` is not closed."""

    def __init__(self, out: BinaryIO, passphrase: bytes, *, cost: KdfCost | None = None) -> None:
        cost = cost or KdfCost()
        salt, prefix = os.urandom(16), os.urandom(7)
        verifier, key = _derive(passphrase, salt, cost)
        header = json.dumps({"cipher": "aes-256-gcm", "kdf": "argon2id", "memory_kib": cost.memory_kib,
                             "iterations": cost.iterations, "lanes": cost.lanes, "salt": _b64(salt),
                             "nonce_prefix": _b64(prefix), "verifier": _b64(verifier)},
                            sort_keys=True, separators=(",", ":")).encode("ascii")
        self._aad = MAGIC + header
        self._out = out
        self._aead = AESGCM(key)
        self._prefix = prefix
        self._index = 0
        self._buffer = bytearray()
        self._closed = False
        self.plain_bytes = 0
        out.write(MAGIC + struct.pack(">H", len(header)) + header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed archive")
        self._buffer += data
        self.plain_bytes += len(data)
        while len(self._buffer) > CHUNK_BYTES:  # keep at least one byte back for the last chunk
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, last), plain, self._aad)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Write the last chunk (idempotent)."""
        if not self._closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True
            self._out.flush()


class SealedReader:
    """A read-only file object over a sealed archive.

    Raises:
        BackupError: (at construction) not an archive, or a wrong passphrase; (while reading)
            a chunk that does not authenticate (corrupted) or a stream that ends before its
            last chunk (truncated). The message names ``name``, never the content.
    """

    def __init__(self, source: BinaryIO, passphrase: bytes, *, name: str = "archive") -> None:
        self._source = source
        self._name = name
        head = source.read(len(MAGIC) + 2)
        if len(head) < len(MAGIC) + 2 or not is_sealed_archive(head):
            raise BackupError(f"{name}: not a crashveil backup archive")
        (length,) = struct.unpack(">H", head[len(MAGIC):])
        header = source.read(length)
        try:
            if length > _MAX_HEADER:
                raise ValueError("header too long")
            fields = json.loads(header)
            cost = KdfCost(int(fields["memory_kib"]), int(fields["iterations"]), int(fields["lanes"]))
            salt, prefix = _unb64(fields["salt"]), _unb64(fields["nonce_prefix"])
            verifier = _unb64(fields["verifier"])
            if fields["kdf"] != "argon2id" or fields["cipher"] != "aes-256-gcm" or len(prefix) != 7:
                raise ValueError("unknown algorithm")
            if not (8 <= cost.memory_kib <= 4 * 1024 * 1024 and 1 <= cost.iterations <= 64 and 1 <= cost.lanes <= 64):
                raise ValueError("cost out of range")
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{name}: the archive header is damaged (not a crashveil backup, or corrupted)") from exc
        expected, key = _derive(passphrase, salt, cost)
        if not hmac.compare_digest(expected, verifier):
            raise BackupError(f"{name}: wrong passphrase")
        self._aead = AESGCM(key)
        self._aad = MAGIC + header
        self._prefix = prefix
        self._index = 0
        self._offset = len(MAGIC) + 2 + length
        self._buffer = b""
        self._pos = 0  # read position in _buffer (slicing each read would copy the chunk's rest)
        self._ended = False

    def _next_chunk(self) -> None:
        raw = self._source.read(4)
        if len(raw) < 4:
            raise BackupError(f"{self._name}: truncated (ends at byte {self._offset}, before its last chunk)")
        (length,) = struct.unpack(">I", raw)
        if not (_TAG <= length <= _MAX_CHUNK):
            raise BackupError(f"{self._name}: corrupted at byte {self._offset} (impossible chunk length)")
        sealed = self._source.read(length)
        if len(sealed) < length:
            raise BackupError(f"{self._name}: truncated (chunk {self._index} cut off at byte {self._offset})")
        for last in (False, True):
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, self._index, last), sealed, self._aad)
            except InvalidTag:
                continue
            self._offset += 4 + length
            self._index += 1
            self._buffer = self._buffer[self._pos:] + plain
            self._pos = 0
            if last:
                if self._source.read(1):
                    raise BackupError(f"{self._name}: corrupted (bytes after the last chunk)")
                self._ended = True
            return
        raise BackupError(f"{self._name}: corrupted at byte {self._offset} (chunk {self._index} does not "
                          "authenticate)")

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) - self._pos < size):
            self._next_chunk()
        end = len(self._buffer) if size < 0 else min(len(self._buffer), self._pos + size)
        out = self._buffer[self._pos:end]
        self._pos = end
        return out

    def read_to_end(self) -> None:
        """Read and check the rest (tar streams stop at their end marker, before our last chunk)."""
        while not self._ended:
            self._next_chunk()
        self._buffer, self._pos = b"", 0
