"""The incremental envelope parser: framing across chunk boundaries, limits, what is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashveil.errors import ReportRejected
from crashveil.server.sentry.routes import EnvelopeParser, SentryLimits

FIXTURES = Path(__file__).parent / "fixtures"


def _parse(data: bytes, step: int | None = None, limits: SentryLimits | None = None) -> tuple[object, ...]:
    parser = EnvelopeParser(limits or SentryLimits())
    step = step or len(data) or 1
    for start in range(0, len(data), step):
        parser.feed(data[start:start + step])
    envelope = parser.finish()
    return envelope.header, envelope.event, dict(envelope.dropped)


@pytest.mark.parametrize("name", ["javascript_browser.envelope", "java_android.envelope", "native.envelope",
                                  "transaction_and_sessions.envelope"])
def test_byte_by_byte_equals_whole(name: str) -> None:
    """Feeding a fixture one byte at a time gives what feeding it whole gives."""
    data = (FIXTURES / name).read_bytes()
    assert _parse(data) == _parse(data, step=1)


def test_implicit_length_without_trailing_newline() -> None:
    """The last item may end at EOF without a newline."""
    assert ({}, b'{"a":1}', {}) == _parse(b'{}\n{"type":"event"}\n{"a":1}')


def test_crlf_line_endings_are_tolerated() -> None:
    """Header lines ending in CRLF parse; the CR is whitespace to JSON."""
    assert ({"x": 1}, b'{"a":1}', {}) == _parse(b'{"x":1}\r\n{"type":"event","length":7}\r\n{"a":1}\r\n')


def test_zero_length_item_and_header_only_envelope() -> None:
    """A zero-length attachment is counted; an envelope of only a header has no event."""
    assert ({}, None, {"attachment": 1}) == _parse(b'{}\n{"type":"attachment","length":0}\n\n')
    assert ({"event_id": "ab" * 16}, None, {}) == _parse(b'{"event_id":"' + b"ab" * 16 + b'"}\n')


def test_too_many_items_is_413() -> None:
    """More items than the limit is refused with 413."""
    data = b"{}\n" + b'{"type":"session","length":2}\n{}\n' * 5
    with pytest.raises(ReportRejected) as caught:
        _parse(data, limits=SentryLimits(max_items=4))
    assert (413, "too_many_items") == (caught.value.status, caught.value.code)


def test_long_header_line_is_400() -> None:
    """A header line longer than the header limit is refused before it is all buffered."""
    parser = EnvelopeParser(SentryLimits(max_header_bytes=64))
    with pytest.raises(ReportRejected) as caught:
        parser.feed(b"{" + b" " * 100)
    assert (400, "malformed_envelope") == (caught.value.status, caught.value.code)


def test_implicit_length_event_over_the_cap_is_413() -> None:
    """An event without a length that grows past the event cap is refused as it streams."""
    parser = EnvelopeParser(SentryLimits(max_event_bytes=100))
    parser.feed(b'{}\n{"type":"event"}\n')
    with pytest.raises(ReportRejected) as caught:
        parser.feed(b"x" * 101)
    assert 413 == caught.value.status


def test_blank_line_flood_parses_in_linear_time() -> None:
    """32 MiB of blank lines after the header: one bulk skip per window, not a Python step per
    byte (which took ~5 s and held the event loop all along)."""
    import time

    parser = EnvelopeParser(SentryLimits(max_envelope_decompressed_bytes=64 * 1024 * 1024))
    parser.feed(b'{"event_id":"' + b"ab" * 16 + b'"}\n')
    block = b"\r\n\n" * (256 * 1024 // 3)
    started = time.perf_counter()
    for _ in range(32 * 1024 * 1024 // len(block)):
        parser.feed(block)
    parser.feed(b'{"type":"event","length":7}\n{"a":1}\n')
    envelope = parser.finish()
    assert b'{"a":1}' == envelope.event
    assert time.perf_counter() - started < 1.5


def test_item_declaring_more_than_the_envelope_cap_is_413_from_its_header() -> None:
    """An attachment whose ``length`` passes the envelope cap is refused before its payload."""
    parser = EnvelopeParser(SentryLimits(max_envelope_decompressed_bytes=1000))
    with pytest.raises(ReportRejected) as caught:
        parser.feed(b'{}\n{"type":"attachment","length":1001}\n')
    assert (413, "too_large") == (caught.value.status, caught.value.code)


@pytest.mark.parametrize("step", [None, 1, 7])
def test_client_reports_are_kept_while_small_and_counted_when_not(step: int | None) -> None:
    """A client report's payload is kept (explicit or implicit length); one over
    CLIENT_REPORT_MAX_BYTES, or beyond CLIENT_REPORTS_KEPT, is skipped and counted as dropped."""
    from crashveil.server.sentry.envelope import CLIENT_REPORT_MAX_BYTES, CLIENT_REPORTS_KEPT

    small = b'{"discarded_events":[]}'
    big = b'{"x":"' + b"a" * CLIENT_REPORT_MAX_BYTES + b'"}'
    parts = [b"{}", b'{"type":"client_report","length":%d}' % len(small), small,
             b'{"type":"client_report"}', small,
             b'{"type":"client_report"}', big,
             b'{"type":"client_report","length":%d}' % len(big), big]
    parts += [b'{"type":"client_report"}', small] * CLIENT_REPORTS_KEPT
    data = b"\n".join(parts) + b"\n"
    parser = EnvelopeParser(SentryLimits())
    chunk = step or len(data)
    for start in range(0, len(data), chunk):
        parser.feed(data[start:start + chunk])
    envelope = parser.finish()
    assert ([small] * CLIENT_REPORTS_KEPT, {"client_report": 4}) == (envelope.client_reports, dict(envelope.dropped))
