"""Streamed decompression: every encoding, its bombs, its broken streams, the header rules."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from typing import Any

import brotli
import pytest
import zstandard

from crashveil.errors import ReportRejected
from crashveil.server.http.decompress import decompress, new_decoder, parse_content_encoding

CAP = 1024 * 1024
PAYLOAD = b'{"crash_type":"ValueError","message":"hello"}' * 50


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


def _zstd_no_size(data: bytes) -> bytes:
    obj = zstandard.ZstdCompressor(level=19, write_content_size=False).compressobj()
    return obj.compress(data) + obj.flush()


COMPRESSORS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": _raw_deflate,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "zstd-no-size": _zstd_no_size,
}


def _encoding(name: str) -> str:
    return name.split("-")[0]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_round_trip_in_small_chunks(name: str) -> None:
    """Every encoding decodes a stream fed one small chunk at a time."""
    decoder = new_decoder(_encoding(name), CAP)
    out = b"".join(decoder.feed(chunk) for chunk in _chunks(COMPRESSORS[name](PAYLOAD), 7)) + decoder.finish()
    assert PAYLOAD == out


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_output_exactly_at_cap_is_accepted(name: str) -> None:
    """Output of exactly the cap passes; the cap is inclusive."""
    data = b"a" * 4096
    assert data == decompress(COMPRESSORS[name](data), _encoding(name), 4096)


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_output_one_byte_over_cap_is_413(name: str) -> None:
    """One byte past the cap is refused with 413 decompressed_too_large."""
    with pytest.raises(ReportRejected) as info:
        decompress(COMPRESSORS[name](b"a" * 4097), _encoding(name), 4096)
    assert ("decompressed_too_large", 413) == (info.value.code, info.value.status)


def _feed_all(decoder: Any, data: bytes) -> None:
    """``data`` through ``decoder`` in 16 KiB chunks, then the end of the stream."""
    for chunk in _chunks(data, 16 * 1024):
        decoder.feed(chunk)
    decoder.finish()


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_bomb_is_refused_within_a_memory_budget(name: str) -> None:
    """A 256 MiB bomb is refused with 413 while traced memory stays under 3x the cap."""
    bomb = COMPRESSORS[name](bytes(256 * 1024 * 1024))
    tracemalloc.start()
    try:
        decoder = new_decoder(_encoding(name), CAP)
        with pytest.raises(ReportRejected) as info:
            _feed_all(decoder, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 413 == info.value.status
    assert peak < 3 * CAP, f"peak {peak} bytes"


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_truncated_stream_is_400(name: str) -> None:
    """A stream cut short is 400 bad_compression, not a 500."""
    data = COMPRESSORS[name](PAYLOAD)
    with pytest.raises(ReportRejected) as info:
        decompress(data[: len(data) - 5], _encoding(name), CAP)
    assert ("bad_compression", 400) == (info.value.code, info.value.status)


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_trailing_garbage_is_400(name: str) -> None:
    """Bytes after the end of a valid stream are 400 bad_compression."""
    with pytest.raises(ReportRejected) as info:
        decompress(COMPRESSORS[name](PAYLOAD) + b"garbage!", _encoding(name), CAP)
    assert ("bad_compression", 400) == (info.value.code, info.value.status)


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_two_concatenated_streams_are_400(name: str) -> None:
    """A second stream (gzip member, zstd frame) after the first is refused."""
    once = COMPRESSORS[name](PAYLOAD)
    with pytest.raises(ReportRejected) as info:
        decompress(once + once, _encoding(name), CAP)
    assert 400 == info.value.status


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("junk", [b"", b"\x00", b"not compressed at all", bytes(range(256)) * 4])
def test_garbage_input_is_400(encoding: str, junk: bytes) -> None:
    """Empty or random bytes under any encoding are 400, never another exception."""
    with pytest.raises(ReportRejected) as info:
        decompress(junk, encoding, CAP)
    assert 400 == info.value.status


def test_zstd_window_larger_than_limit_is_400() -> None:
    """A zstd frame asking for a 128 MiB window is refused before any memory is taken."""
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
    obj = zstandard.ZstdCompressor(compression_params=params).compressobj()
    with pytest.raises(ReportRejected) as info:
        decompress(obj.compress(b"x" * 100) + obj.flush(), "zstd", CAP)
    assert ("bad_compression", 400) == (info.value.code, info.value.status)


def test_identity_is_capped_too() -> None:
    """An unencoded body larger than the cap is 413 as well."""
    with pytest.raises(ReportRejected) as info:
        decompress(b"a" * 11, None, 10)
    assert 413 == info.value.status


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("identity", None), ("utf-8", None), ("gzip", "gzip"), ("x-gzip", "gzip"),
    (" GZIP ", "gzip"), ("deflate", "deflate"), ("br", "br"), ("zstd", "zstd"), ("identity, gzip", "gzip"),
    (["gzip"], "gzip"),
])
def test_parse_content_encoding(header: str | None, expected: str | None) -> None:
    """Identity spellings mean no encoding; a single known token is returned normalized."""
    assert expected == parse_content_encoding(header)


@pytest.mark.parametrize(("header", "code"), [
    ("gzip, gzip", "stacked_encoding"), ("gzip, br", "stacked_encoding"), (["gzip", "zstd"], "stacked_encoding"),
    (", ".join(["gzip"] * 1000), "stacked_encoding"), ("compress", "unsupported_encoding"),
    ("lz4", "unsupported_encoding"),
])
def test_parse_content_encoding_refuses(header: str | list[str], code: str) -> None:
    """Stacked or unknown encodings are 415 with their own code."""
    with pytest.raises(ReportRejected) as info:
        parse_content_encoding(header)
    assert (code, 415) == (info.value.code, info.value.status)
