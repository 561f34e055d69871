"""Streamed decompression of request bodies with a hard cap on the output.

A compressed body is attacker-controlled: 200 KiB of gzip inflate to about 200 MiB of zeros,
and zstd or brotli go much further (a zstd RLE block is 4 bytes for 128 KiB of output). So
every decoder here is fed the body chunk by chunk as it arrives, asks its library for a
bounded amount of output at a time, and raises as soon as the total passes ``max_bytes``.
Memory stays near ``max_bytes`` whatever the ratio (``tests/server/http/test_decompress.py``
measures the peak with ``tracemalloc``).

One encoding at most (``Content-Encoding: gzip, br`` is refused: urllib3 CVE-2025-66418 is
the reason stacked decoders are dangerous, and no client of ours stacks them). An empty
value, ``identity`` and the ``utf-8`` some clients send by mistake mean no encoding.

Every failure is a :class:`~crashveil.errors.ReportRejected` with a code the error map
turns into JSON: ``unsupported_encoding`` and ``stacked_encoding`` (415),
``decompressed_too_large`` (413), ``bad_compression`` (400: corrupt, truncated, or trailing
bytes after the end of the stream).
"""

from __future__ import annotations

import zlib
from typing import Protocol

from crashveil.errors import ReportRejected

__all__ = ["ENCODINGS", "Decoder", "parse_content_encoding", "new_decoder", "decompress"]

#: Encodings the server accepts, by their ``Content-Encoding`` token.
ENCODINGS: tuple[str, ...] = ("gzip", "deflate", "zstd", "br")

_ALIASES = {"x-gzip": "gzip"}
_IDENTITY = {"", "identity", "utf-8", "utf8"}
#: Output asked of a decoder per call. Small enough that overshooting the cap costs little.
_STEP = 64 * 1024
#: zstd input is fed in slices this long: zstandard's ``decompressobj`` has no output limit,
#: and one block (3-byte header + 1 byte for RLE) may inflate to 128 KiB, so a 32-byte slice
#: yields at most ~1 MiB. The cost is ~1 us per slice, about 100 us for a 3 KB report.
_ZSTD_SLICE = 32
#: zstd frames may ask for a window up to 2 GiB of decoder memory; reports never need more
#: than this (a 64 KiB report compresses with a window of at most 64 KiB).
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024


def _bad_compression() -> ReportRejected:
    return ReportRejected("bad_compression", "the body is not a valid stream of its Content-Encoding", status=400)


def parse_content_encoding(values: list[str] | tuple[str, ...] | str | None) -> str | None:
    """The one encoding named by the ``Content-Encoding`` header(s), or ``None`` for identity.

    Raises:
        ReportRejected: 415 ``unsupported_encoding`` for an encoding we do not decode, 415
            ``stacked_encoding`` for more than one.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    tokens = []
    for value in values:
        for token in value.split(","):
            token = token.strip().lower()
            if token not in _IDENTITY:
                tokens.append(_ALIASES.get(token, token))
    if len(tokens) > 1:
        raise ReportRejected("stacked_encoding", "at most one Content-Encoding is accepted", status=415)
    if not tokens:
        return None
    if tokens[0] not in ENCODINGS:
        raise ReportRejected("unsupported_encoding", f"Content-Encoding must be one of: {', '.join(ENCODINGS)}",
                             status=415)
    return tokens[0]


class Decoder(Protocol):
    """Feed compressed chunks, get the decompressed bytes; ``finish`` checks the stream ended."""

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Capped:
    """Counts output against ``max_bytes`` for the concrete decoders below."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._produced = 0

    def _count(self, out: bytes) -> bytes:
        self._produced += len(out)
        if self._produced > self._max_bytes:
            raise ReportRejected("decompressed_too_large",
                                 f"the body decompresses to more than {self._max_bytes} bytes", status=413)
        return out

    @property
    def _budget(self) -> int:
        """How much to ask for next: never more than one byte past the cap."""
        return max(1, min(_STEP, self._max_bytes - self._produced + 1))


class _ZlibDecoder(_Capped):
    """gzip (``wbits=31``), zlib-wrapped deflate (15) or raw deflate (-15)."""

    def __init__(self, max_bytes: int, encoding: str) -> None:
        super().__init__(max_bytes)
        self._encoding = encoding
        self._head = b""  # deflate: the first two bytes decide zlib-wrapped or raw
        self._obj: zlib._Decompress | None = zlib.decompressobj(31) if encoding == "gzip" else None

    def feed(self, chunk: bytes) -> bytes:
        if self._obj is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            # RFC 1950 header: CM = 8 (deflate) and the 16-bit header is a multiple of 31.
            wrapped = (chunk[0] & 0x0F) == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0
            self._obj = zlib.decompressobj(15 if wrapped else -15)
        return self._run(chunk)

    def _run(self, data: bytes) -> bytes:
        assert self._obj is not None
        parts = []
        try:
            while True:
                if self._obj.eof:
                    if data or self._obj.unused_data:
                        raise _bad_compression()  # trailing bytes, or a second gzip member
                    break
                budget = self._budget
                out = self._obj.decompress(data, budget)
                parts.append(self._count(out))
                data = self._obj.unconsumed_tail
                if not data and len(out) < budget:
                    break
        except zlib.error as exc:
            raise _bad_compression() from exc
        return b"".join(parts)

    def finish(self) -> bytes:
        if self._obj is None:  # fewer than two bytes in all: not a deflate stream
            raise _bad_compression()
        out = self._run(b"")
        if not self._obj.eof:
            raise _bad_compression()  # truncated
        return out


class _BrotliDecoder(_Capped):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        import brotli

        self._error = brotli.error
        self._obj = brotli.Decompressor()

    def feed(self, chunk: bytes) -> bytes:
        parts = []
        try:
            if self._obj.is_finished() and chunk:
                raise _bad_compression()
            # brotli >= 1.2: ``output_buffer_limit`` bounds each call (CVE-2025-6176); after
            # hitting it, only empty input may follow until the decoder accepts more.
            parts.append(self._count(self._obj.process(chunk, output_buffer_limit=self._budget)))
            while not self._obj.can_accept_more_data() and not self._obj.is_finished():
                parts.append(self._count(self._obj.process(b"", output_buffer_limit=self._budget)))
        except self._error as exc:
            raise _bad_compression() from exc
        return b"".join(parts)

    def finish(self) -> bytes:
        if not self._obj.is_finished():
            raise _bad_compression()
        return b""


class _ZstdDecoder(_Capped):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        import zstandard

        self._error = zstandard.ZstdError
        self._obj = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()

    def feed(self, chunk: bytes) -> bytes:
        parts = []
        view = memoryview(chunk)
        try:
            for start in range(0, len(view), _ZSTD_SLICE):
                if self._obj.eof:
                    raise _bad_compression()  # trailing bytes after the frame
                parts.append(self._count(self._obj.decompress(view[start:start + _ZSTD_SLICE])))
                if self._obj.eof and self._obj.unused_data:
                    raise _bad_compression()
        except self._error as exc:
            raise _bad_compression() from exc
        return b"".join(parts)

    def finish(self) -> bytes:
        if not self._obj.eof:
            raise _bad_compression()
        return b""


def new_decoder(encoding: str, max_bytes: int) -> Decoder:
    """A fresh decoder for one of :data:`ENCODINGS` whose output may not pass ``max_bytes``."""
    if encoding in ("gzip", "deflate"):
        return _ZlibDecoder(max_bytes, encoding)
    if encoding == "br":
        return _BrotliDecoder(max_bytes)
    if encoding == "zstd":
        return _ZstdDecoder(max_bytes)
    raise ValueError(f"not a supported encoding: {encoding!r}")  # callers parse the header first


def decompress(data: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Decode a whole body at once (tests, benchmarks); same limits and errors as streaming."""
    if encoding is None:
        if len(data) > max_bytes:
            raise ReportRejected("decompressed_too_large", f"the body is larger than {max_bytes} bytes", status=413)
        return data
    decoder = new_decoder(encoding, max_bytes)
    return decoder.feed(data) + decoder.finish()
