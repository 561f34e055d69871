"""The sealed archive: round trip across chunks, and every way a wrong key or damaged bytes
is refused with one clear message (wrong passphrase, truncated, corrupted, reordered)."""

from __future__ import annotations

import io
import os
import struct

import pytest

from crashveil.errors import BackupError
from crashveil.server.ops.archive import CHUNK_BYTES, MAGIC, KdfCost, SealedReader, SealedWriter

CHEAP = KdfCost(memory_kib=1024, iterations=1, lanes=1)


def _seal(data: bytes, passphrase: bytes = b"pass phrase") -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, passphrase, cost=CHEAP)
    for start in range(0, len(data), 70_000):  # odd write sizes across chunk borders
        writer.write(data[start:start + 70_000])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, passphrase: bytes = b"pass phrase") -> bytes:
    reader = SealedReader(io.BytesIO(sealed), passphrase, name="b.cvbak")
    parts = []
    while chunk := reader.read(10240):
        parts.append(chunk)
    reader.read_to_end()
    return b"".join(parts)


def _chunks(sealed: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(offset of the first chunk, [(offset, length) of each chunk with its length field])."""
    (header_len,) = struct.unpack(">H", sealed[len(MAGIC):len(MAGIC) + 2])
    offset = first = len(MAGIC) + 2 + header_len
    found = []
    while offset < len(sealed):
        (length,) = struct.unpack(">I", sealed[offset:offset + 4])
        found.append((offset, 4 + length))
        offset += 4 + length
    return first, found


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 12345])
def test_round_trip(size: int) -> None:
    """What was written comes back byte for byte, empty and across chunk borders."""
    data = os.urandom(size)
    assert data == _open(_seal(data))


def test_wrong_passphrase_is_named() -> None:
    with pytest.raises(BackupError, match=r"^b\.cvbak: wrong passphrase$"):
        _open(_seal(b"x" * 100), b"another one")


def test_truncated_archive_is_refused_at_every_cut() -> None:
    """Cut anywhere after the header (inside a chunk or between chunks): 'truncated'."""
    sealed = _seal(os.urandom(2 * CHUNK_BYTES + 10))
    first, chunks = _chunks(sealed)
    cuts = [first, first + 3, chunks[0][0] + chunks[0][1], chunks[1][0] + 100, len(sealed) - 1]
    for cut in cuts:
        with pytest.raises(BackupError, match="truncated"):
            _open(sealed[:cut])


def test_dropping_the_last_chunk_is_truncation() -> None:
    """A stream that ends on a chunk border before its last chunk is still 'truncated'."""
    sealed = _seal(os.urandom(CHUNK_BYTES + 10))
    _, chunks = _chunks(sealed)
    with pytest.raises(BackupError, match="truncated"):
        _open(sealed[:chunks[-1][0]])


def test_flipped_bit_is_corruption_with_its_offset() -> None:
    sealed = bytearray(_seal(os.urandom(CHUNK_BYTES + 10)))
    _, chunks = _chunks(bytes(sealed))
    sealed[chunks[1][0] + 10] ^= 1
    with pytest.raises(BackupError, match=rf"corrupted at byte {chunks[1][0]} \(chunk 1 does not authenticate\)"):
        _open(bytes(sealed))


def test_reordered_chunks_and_trailing_bytes_are_refused() -> None:
    sealed = _seal(os.urandom(3 * CHUNK_BYTES))
    first, chunks = _chunks(sealed)
    (a, la), (b, lb) = chunks[0], chunks[1]
    swapped = sealed[:first] + sealed[b:b + lb] + sealed[a:a + la] + sealed[b + lb:]
    with pytest.raises(BackupError, match="corrupted"):
        _open(swapped)
    with pytest.raises(BackupError, match="bytes after the last chunk"):
        _open(sealed + b"\x00")


def test_damaged_header_and_other_files() -> None:
    sealed = bytearray(_seal(b"data"))
    sealed[len(MAGIC) + 5] ^= 0x20  # inside the JSON header
    with pytest.raises(BackupError, match="header is damaged|wrong passphrase|corrupted"):
        _open(bytes(sealed))
    with pytest.raises(BackupError, match="not a crashveil backup archive"):
        _open(b"SQLite format 3\x00" + b"\x00" * 100)
