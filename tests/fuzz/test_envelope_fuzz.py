"""Fuzzing the Sentry envelope parser and the body decoders in front of it.

Properties, for any bytes and any split of them into chunks:

* the only exception out of ``EnvelopeParser`` and the decoders is ``ReportRejected`` with a
  4xx status (the error map turns it into a clear answer; anything else would be a 500);
* feeding the bytes in any chunks gives what feeding them whole gives (same envelope, or
  the same error code and status), also behind every ``Content-Encoding``;
* a well-framed envelope parses to what was framed (the one event kept, the rest counted);
* the work is linear: four times more hostile input takes well under eight times longer.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard
from hypothesis import given, settings, strategies as st

from crashveil.errors import ReportRejected
from crashveil.server.http.decompress import ENCODINGS, new_decoder
from crashveil.server.sentry.routes import EnvelopeParser, SentryLimits

FUZZ = settings.get_profile("crashveil-fuzz")
FIXTURES = Path(__file__).resolve().parents[1] / "sentry" / "fixtures"
SEEDS = [path.read_bytes() for path in sorted(FIXTURES.glob("*.envelope"))]
SEEDS += [path.read_bytes() for path in sorted((FIXTURES / "malformed").glob("*.envelope"))]
# Small limits, so that generated inputs reach them.
SMALL = SentryLimits(max_event_bytes=256, max_header_bytes=128, max_items=6)
LIMITS = st.sampled_from([SentryLimits(), SMALL])


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the positions ``cuts`` (taken modulo its length, sorted)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _outcome(chunks: list[bytes], limits: SentryLimits) -> tuple[Any, ...]:
    """What the parser makes of ``chunks``: the envelope, or the refusal's (code, status)."""
    parser = EnvelopeParser(limits)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        envelope = parser.finish()
    except ReportRejected as exc:
        assert 400 <= exc.status < 500, (exc.code, exc.status)
        return ("rejected", exc.code, exc.status)
    return ("ok", envelope.header, envelope.event, dict(envelope.dropped))


def _mutate(seed: bytes, at: int, cut: int, insert: bytes) -> bytes:
    at %= len(seed) + 1
    return seed[:at] + insert + seed[at + cut:]


# -- arbitrary and mutated bytes ------------------------------------------------------------

_bytes = st.one_of(
    st.binary(max_size=600),
    st.builds(_mutate, st.sampled_from(SEEDS), st.integers(0, 1 << 20), st.integers(0, 64), st.binary(max_size=64)),
)


@FUZZ
@given(_bytes, st.lists(st.integers(0, 1 << 20), max_size=12), LIMITS)
def test_any_bytes_in_any_chunks_give_what_whole_bytes_give(data: bytes, cuts: list[int],
                                                            limits: SentryLimits) -> None:
    """Arbitrary and mutated envelopes: only 4xx ReportRejected, and chunking changes nothing."""
    whole = _outcome([data], limits)
    assert whole == _outcome(_chunks(data, cuts), limits)


@FUZZ
@given(st.sampled_from(SEEDS))
def test_fixtures_byte_by_byte(data: bytes) -> None:
    """Every fixture, valid or malformed, one byte at a time: the same as whole."""
    assert _outcome([data], SentryLimits()) == _outcome([data[i:i + 1] for i in range(len(data))], SentryLimits())


# -- structured envelopes: random headers, items, lengths and separators ----------------------

_json_scalar = st.none() | st.booleans() | st.integers(-(1 << 64), 1 << 64) | st.floats(allow_nan=False) | st.text(
    max_size=20)
_json = st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)
_TYPES = ["event", "event", "transaction", "session", "attachment", "client_report", "replay_video", "", "EVENT",
          "x" * 50]
_item_type = st.sampled_from(_TYPES) | st.text(max_size=12)
_payload = st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), _json)
# How an item header states its length: right, absent, off by some bytes, or not a length at all.
_length = st.one_of(st.just("right"), st.just("absent"), st.integers(-3, 3),
                    st.sampled_from([None, True, 1.0, "7", -1, 1 << 70, [], {}]).map(lambda v: ("raw", v)))
_separator = st.sampled_from([b"\n", b"\r\n", b"", b"\n\n", b"\r", b" \n"])


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    header = draw(st.one_of(st.dictionaries(st.sampled_from(["event_id", "sent_at", "dsn", "sdk", "x"]), _json,
                                            max_size=3).map(lambda d: json.dumps(d).encode()),
                            st.sampled_from([b"", b"[]", b"null", b"{", b'{"a":1,"a":2}', b"\xff{}"])))
    out = [header, draw(_separator)]
    for _ in range(draw(st.integers(0, 5))):
        payload = draw(_payload)
        fields: dict[str, Any] = {}
        if draw(st.integers(0, 9)):  # one item in ten has no type
            fields["type"] = draw(_item_type)
        length = draw(_length)
        if length == "right":
            fields["length"] = len(payload)
        elif isinstance(length, int):
            fields["length"] = max(0, len(payload) + length)
        elif isinstance(length, tuple):
            fields["length"] = length[1]
        if draw(st.booleans()):
            fields.update(draw(st.dictionaries(st.sampled_from(["content_type", "filename", "x"]), _json, max_size=2)))
        out += [json.dumps(fields).encode(), draw(_separator), payload, draw(_separator)]
    return b"".join(out)


@FUZZ
@given(envelopes(), st.lists(st.integers(0, 1 << 16), max_size=10), LIMITS)
def test_structured_envelopes_in_any_chunks(data: bytes, cuts: list[int], limits: SentryLimits) -> None:
    """Random headers, item types, right and wrong lengths, odd separators: 4xx only, split-invariant."""
    whole = _outcome([data], limits)
    assert whole == _outcome(_chunks(data, cuts), limits)


@st.composite
def well_framed(draw: st.DrawFn) -> tuple[bytes, bytes | None, Counter[str]]:
    """An envelope framed by the spec, with what the parser must find in it."""
    kinds = draw(st.lists(st.sampled_from(["transaction", "session", "attachment", "profile", "weird"]), max_size=5))
    event_at = draw(st.none() | st.integers(0, len(kinds)))
    items: list[tuple[str, bytes]] = [(kind, draw(st.binary(max_size=200))) for kind in kinds]
    event = None
    if event_at is not None:
        event = draw(st.binary(max_size=200))
        items.insert(event_at, ("event", event))
    out = [b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n']
    for kind, payload in items:
        implicit = b"\n" not in payload and draw(st.booleans())
        head = {"type": kind} if implicit else {"type": kind, "length": len(payload)}
        # An implicit length runs to the next LF, so a CR before it is payload (as in Relay).
        end = b"\n" if implicit else draw(st.sampled_from([b"\n", b"\r\n"]))
        out += [json.dumps(head).encode(), b"\n", payload, end]
    dropped = Counter("<unknown>" if kind == "weird" else kind for kind, _ in items if kind != "event")
    return b"".join(out), event, dropped


@FUZZ
@given(well_framed(), st.lists(st.integers(0, 1 << 16), max_size=10))
def test_well_framed_envelopes_parse_to_what_was_framed(framed: tuple[bytes, bytes | None, Counter[str]],
                                                        cuts: list[int]) -> None:
    """Explicit and implicit lengths, LF and CRLF: the event kept byte for byte, every other item counted."""
    data, event, dropped = framed
    parser = EnvelopeParser(SentryLimits())
    for chunk in _chunks(data, cuts):
        parser.feed(chunk)
    envelope = parser.finish()
    assert (envelope.event, dict(envelope.dropped)) == (event, dict(dropped))


# -- behind Content-Encoding ---------------------------------------------------------------------

def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": _raw_deflate,
    "br": lambda data: brotli.compress(data, quality=4),
    "zstd": zstandard.ZstdCompressor(level=3).compress,
}


def _decoded_outcome(encoding: str, chunks: list[bytes], limits: SentryLimits, cap: int) -> tuple[Any, ...]:
    """Decoder then parser, as ``stream_body`` wires them: the envelope or (code, status)."""
    decoder = new_decoder(encoding, cap)
    parser = EnvelopeParser(limits)
    try:
        for chunk in chunks:
            parser.feed(decoder.feed(chunk))
        parser.feed(decoder.finish())
        envelope = parser.finish()
    except ReportRejected as exc:
        assert 400 <= exc.status < 500, (exc.code, exc.status)
        return ("rejected", exc.code, exc.status)
    return ("ok", envelope.header, envelope.event, dict(envelope.dropped))


@FUZZ
@given(st.sampled_from(sorted(COMPRESS)), envelopes() | _bytes, st.lists(st.integers(0, 1 << 16), max_size=8),
       st.sampled_from([64, 4096, 1 << 20]))
def test_compressed_envelopes_in_any_chunks(name: str, data: bytes, cuts: list[int], cap: int) -> None:
    """Each encoding: any split of the compressed body gives the plain parse (or a refusal past the cap)."""
    encoding = name.split("-")[0]
    body = COMPRESS[name](data)
    whole = _decoded_outcome(encoding, [body], SentryLimits(), cap)
    split = _decoded_outcome(encoding, _chunks(body, cuts), SentryLimits(), cap)
    if len(data) <= cap:
        assert whole == split == _outcome([data], SentryLimits())
    else:  # which refusal comes first depends on how far the parser got before the cap
        assert whole[0] == split[0] == "rejected"


@FUZZ
@given(st.sampled_from(ENCODINGS), st.one_of(
    st.binary(max_size=400),
    st.builds(_mutate, st.sampled_from(sorted(COMPRESS)).map(lambda n: COMPRESS[n](SEEDS[0])),
              st.integers(0, 1 << 16), st.integers(0, 16), st.binary(max_size=16))),
    st.lists(st.integers(0, 1 << 16), max_size=8))
def test_decoders_refuse_garbage_only_with_their_own_error(encoding: str, data: bytes, cuts: list[int]) -> None:
    """Random and corrupted compressed bodies: ReportRejected (4xx) or output, whatever the chunks."""
    def run(chunks: list[bytes]) -> tuple[Any, ...]:
        decoder = new_decoder(encoding, 1 << 20)
        try:
            return ("ok", b"".join(decoder.feed(c) for c in chunks) + decoder.finish())
        except ReportRejected as exc:
            assert 400 <= exc.status < 500
            return ("rejected", exc.code, exc.status)

    assert run([data]) == run(_chunks(data, cuts))


# -- linear time on hostile input -------------------------------------------------------------------

def _hostile(shape: str, n: int) -> tuple[list[bytes], SentryLimits]:
    """Hostile input of size ~``n`` units, as the chunks a slow client would send."""
    many = SentryLimits(max_items=10 ** 9)
    if shape == "blank_lines":  # blank lines between items, two bytes per network read
        data = b"{}\n" + b"\r\n" * n + b'{"type":"event","length":2}\n{}'
        return [data[i:i + 2] for i in range(0, len(data), 2)], many
    if shape == "many_items":  # many tiny items (the item cap lifted, to see the per-item cost)
        return [b"{}\n" + b'{"type":"session","length":2}\n{}\n' * n], many
    if shape == "implicit_length":  # one unbounded non-event item without a length, in small reads
        data = b'{}\n{"type":"attachment"}\n' + b"a" * (n * 16)
        return [data[i:i + 16] for i in range(0, len(data), 16)], many
    if shape == "event_line":  # an implicit-length event growing in 1-byte reads up to the cap
        data = b'{}\n{"type":"event"}\n' + b"e" * n
        return [data[i:i + 1] for i in range(len(data))], SentryLimits(max_event_bytes=10 ** 9)
    raise AssertionError(shape)


def _best_time(chunks: list[bytes], limits: SentryLimits, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        parser = EnvelopeParser(limits)
        for chunk in chunks:
            parser.feed(chunk)
        parser.finish()
        best = min(best, time.perf_counter() - started)
    return best


#: Units per shape so that the smaller run takes ~10 ms here (timings far below are noise).
SIZES = {"blank_lines": 40_000, "many_items": 2_000, "implicit_length": 50_000, "event_line": 50_000}


@pytest.mark.parametrize("shape", sorted(SIZES))
def test_hostile_input_takes_linear_time(shape: str) -> None:
    """Four times more hostile input takes under eight times longer (best of five each).

    The machine is shared, so a ratio spoiled by a neighbour's burst is measured again, up to
    three times; a quadratic parser fails all three (16x, not 4x).
    """
    n = SIZES[shape]
    ratios = []
    for _ in range(3):
        small = _best_time(*_hostile(shape, n))
        large = _best_time(*_hostile(shape, 4 * n))
        ratios.append(large / small)
        if large < 8 * small:
            return
    pytest.fail(f"{shape}: 4x the input took {', '.join(f'{r:.1f}x' for r in ratios)} the time")
