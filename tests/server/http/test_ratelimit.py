"""Token buckets: burst, refill, independence of keys, bounded memory, Retry-After."""

from __future__ import annotations

import pytest

from crashveil.server.http.ratelimit import KeyedLimiter, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_allowed_then_refused() -> None:
    """A fresh key may make ``burst`` requests at once; the next one waits one token's time."""
    clock = FakeClock()
    limiter = KeyedLimiter(2.0, 3, clock=clock)
    assert [0.0, 0.0, 0.0] == [limiter.take("p") for _ in range(3)]
    assert 0.5 == limiter.take("p")


def test_tokens_refill_with_time() -> None:
    """After 1/rate seconds one more request passes."""
    clock = FakeClock()
    limiter = KeyedLimiter(2.0, 1, clock=clock)
    assert 0.0 == limiter.take("p")
    assert 0.0 < limiter.take("p")
    clock.now += 0.5
    assert 0.0 == limiter.take("p")


def test_refill_never_exceeds_burst() -> None:
    """A long idle time refills to ``burst``, not more."""
    clock = FakeClock()
    limiter = KeyedLimiter(10.0, 2, clock=clock)
    limiter.take("p")
    clock.now += 3600
    assert [0.0, 0.0] == [limiter.take("p"), limiter.take("p")]
    assert 0.0 < limiter.take("p")


def test_refused_requests_do_not_consume_tokens() -> None:
    """Hammering while limited does not push the next allowed time further out."""
    clock = FakeClock()
    limiter = KeyedLimiter(1.0, 1, clock=clock)
    limiter.take("p")
    for _ in range(100):
        limiter.take("p")
    clock.now += 1.0
    assert 0.0 == limiter.take("p")



def test_refund_gives_back_one_token_never_above_burst() -> None:
    """A refunded token can be taken again; refunds never fill a bucket past ``burst``, and
    a key without a bucket is left alone."""
    clock = FakeClock()
    limiter = KeyedLimiter(0.001, 2, clock=clock)
    assert [0.0, 0.0] == [limiter.take("p"), limiter.take("p")]
    limiter.refund("p")
    assert 0.0 == limiter.take("p")
    assert 0.0 < limiter.take("p")
    for _ in range(5):
        limiter.refund("p")
    assert [0.0, 0.0] == [limiter.take("p"), limiter.take("p")]
    assert 0.0 < limiter.take("p")
    limiter.refund("never-seen")
    assert 1 == len(limiter)  # "never-seen" got no bucket


def test_keys_are_independent() -> None:
    """One key being limited does not affect another."""
    clock = FakeClock()
    limiter = KeyedLimiter(1.0, 1, clock=clock)
    limiter.take("a")
    assert 0.0 < limiter.take("a")
    assert 0.0 == limiter.take("b")


def test_keys_are_bounded_lru() -> None:
    """At most ``max_keys`` buckets are kept; the least recently used goes first."""
    clock = FakeClock()
    limiter = KeyedLimiter(1.0, 1, clock=clock, max_keys=2)
    limiter.take("a")
    limiter.take("b")
    limiter.take("a")
    limiter.take("c")  # evicts b
    assert 2 == len(limiter)
    assert 0.0 < limiter.take("a")
    assert 0.0 == limiter.take("b")


def test_clock_going_backwards_does_not_add_tokens() -> None:
    """A clock step backwards refills nothing."""
    clock = FakeClock()
    limiter = KeyedLimiter(1.0, 1, clock=clock)
    limiter.take("p")
    clock.now -= 100
    assert 0.0 < limiter.take("p")


@pytest.mark.parametrize(("wait", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (59.5, "60")])
def test_retry_after_header_rounds_up(wait: float, header: str) -> None:
    """Retry-After is whole seconds rounded up, at least 1."""
    assert header == retry_after_header(wait)


def test_invalid_parameters_raise() -> None:
    """A zero rate or burst is a programming error."""
    with pytest.raises(ValueError):
        KeyedLimiter(0.0, 1)
    with pytest.raises(ValueError):
        KeyedLimiter(1.0, 0)
