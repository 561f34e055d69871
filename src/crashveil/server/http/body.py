"""Read a request body under limits: the one place both ingest routes stream bodies.

Limits apply before and while the body arrives. ``Content-Length`` is checked first (a lie
that is too large is refused unread); the bytes are then counted as they arrive, because the
header may be missing (chunked). Compressed bodies go through a capped streaming decoder,
fed in small slices so that one call's output stays small even for a bomb, and the reader
yields to the event loop after every :data:`YIELD_EVERY` bytes it hands to the sink: both
listeners share one loop, and inflating plus parsing megabytes in one go would stall
``/healthz`` and every other request behind it. A body that has not fully arrived after
``timeout_s`` is 408.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request

from crashveil.errors import ReportRejected
from crashveil.server.http.decompress import new_decoder, parse_content_encoding
from crashveil.wire import SCHEMA_VERSION
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

__all__ = ["BODY_TIMEOUT_S", "DECODE_SLICE", "YIELD_EVERY", "read_body", "stream_body"]

#: A body that stalls this long is answered 408 and the worker released (Antenna uses 70 s).
BODY_TIMEOUT_S = 30.0
#: Decoder input is fed in slices this long, so one call's output stays small (a 256-byte
#: slice of zstd or brotli inflates to a few MiB at most) even for a bomb.
DECODE_SLICE = 256
#: The reader yields to the event loop after handing this many bytes to the sink (~0.3 ms of
#: inflating and parsing), so no request holds the loop for long whatever its body.
YIELD_EVERY = 256 * 1024


def _reject(code: str, message: str, status: int = 400) -> ReportRejected:
    return ReportRejected(code, message, status=status)


async def stream_body(request: Request, sink: Callable[[bytes], None], *, max_body_bytes: int,
                      max_decompressed_bytes: int, timeout_s: float) -> None:
    """Stream the (decompressed) body into ``sink``; ``ReportRejected`` on any limit.

    Raises:
        ReportRejected: 400 bad or mismatched Content-Length, client gone; 408 too slow;
            413 too large (on the wire or decompressed); 415 unknown or stacked encodings.
    """
    encoding = parse_content_encoding(request.headers.getlist("content-encoding"))
    lengths = request.headers.getlist("content-length")
    declared: int | None = None
    if lengths:
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit() or len(lengths[0].strip()) > 12:
            raise _reject("bad_content_length", "Content-Length must be one decimal number")
        declared = int(lengths[0])
        if declared > max_body_bytes:
            raise _reject("too_large", f"the body is larger than {max_body_bytes} bytes", 413)
    decoder = new_decoder(encoding, max_decompressed_bytes) if encoding else None
    received = 0
    unyielded = 0
    try:
        # asyncio.timeout, not anyio.fail_after: the same deadline (TimeoutError) for ~40 %
        # of the cost, on the only loop the server runs (uvicorn's asyncio/uvloop).
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_body_bytes:
                    raise _reject("too_large", f"the body is larger than {max_body_bytes} bytes", 413)
                if decoder is None:
                    if received > max_decompressed_bytes:
                        raise _reject("too_large", f"the body is larger than {max_decompressed_bytes} bytes", 413)
                    sink(chunk)
                    continue
                view = memoryview(chunk)
                for start in range(0, len(view), DECODE_SLICE):
                    out = decoder.feed(bytes(view[start:start + DECODE_SLICE]))
                    sink(out)
                    unyielded += len(out)
                    if unyielded >= YIELD_EVERY:
                        unyielded = 0
                        await asyncio.sleep(0)
    except TimeoutError:
        raise _reject("body_timeout", f"the body did not arrive within {timeout_s:g} s", 408) from None
    except ClientDisconnect:
        raise _reject("body_incomplete", "the client went away before the body ended") from None
    if declared is not None and received != declared:
        raise _reject("bad_content_length", "the body length differs from Content-Length")
    if decoder is not None:
        sink(decoder.finish())


async def read_body(request: Request, *, max_body_bytes: int, max_decompressed_bytes: int,
                    timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The request body, decompressed; limits applied before and while it streams.

    ``Content-Length`` is checked first (a lie that is too large is refused unread); the
    bytes are then counted as they arrive, because the header may be missing (chunked) and
    the server may not have enforced it. Decompression is fed chunk by chunk with its own cap
    (:func:`stream_body`).
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != SEALED_CONTENT_TYPE:
        raise _reject("unsupported_media_type", f"Content-Type must be {SEALED_CONTENT_TYPE}", status=415)
    schema = request.headers.get(SCHEMA_HEADER)
    if schema is not None and schema.strip() != str(SCHEMA_VERSION):
        raise _reject("unsupported_schema", f"{SCHEMA_HEADER} must be {SCHEMA_VERSION}", status=400)
    parts: list[bytes] = []
    await stream_body(request, parts.append, max_body_bytes=max_body_bytes,
                      max_decompressed_bytes=max_decompressed_bytes, timeout_s=timeout_s)
    body = b"".join(parts)
    if not body:
        raise _reject("empty_body", "the body is empty", status=400)
    return body

