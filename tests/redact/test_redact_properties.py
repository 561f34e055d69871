"""Hypothesis properties of crashveil.redact: idempotence, planted values never survive, benign tokens survive."""

from __future__ import annotations

import os
import random

import redact_corpus as corpus
from hypothesis import HealthCheck, given, settings, strategies as st

from crashveil.redact import DEFAULT_PLACEHOLDERS, KINDS, Redactor

ALL = Redactor()
# REDACT_EXAMPLES=5000 runs a longer bug hunt; the default keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("REDACT_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates included.
ANY_CHAR = st.characters(exclude_categories=())

# Pieces that sit on the edges of the detectors: anchors, separators, near-misses, placeholders.
TRICKY = st.sampled_from([
    "@", ".", ":", "::", "/", "\\", "\\\\", "'", '"', "=", "?", "&", "#", "-", "_", "<", ">", "~", " ", "\n",
    "(", ")", "+", "eyJ", "home", "/home/", "Users", "C:", "\\Users\\", "-----BEGIN ", "PRIVATE KEY-----",
    "-----END ", "password", "token", "user", "Bearer ", "sk-", "ghp_", "AKIA", "laptop", "DESKTOP-", ".local",
    "://", "0x", "127.0.0.1", "+44", "ext", "x", "b'", "pytest-of-", "\\\\?\\", "2A", "756.", "eyJhbGciOiJIUzI1NiJ9.",
    *DEFAULT_PLACEHOLDERS.values(), "<redacted>", "<value>",
])
DIGITS = st.from_regex(r"[0-9]{1,20}", fullmatch=True)
HEX = st.from_regex(r"[0-9a-fA-F]{1,16}", fullmatch=True)
B64 = st.from_regex(r"[A-Za-z0-9+/=_-]{1,40}", fullmatch=True)
WORD = st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True)
FRAGMENT = st.one_of(TRICKY, DIGITS, HEX, B64, WORD, st.text(ANY_CHAR, max_size=6))
TEXT = st.one_of(st.text(ANY_CHAR, max_size=200), st.lists(FRAGMENT, max_size=40).map("".join))
KIND = st.sampled_from(KINDS)
SEED = st.integers(min_value=0, max_value=2**32 - 1)


@SETTINGS
@given(TEXT, KIND)
def test_idempotent_on_arbitrary_text(text, kind):
    """Redacting redacted text changes nothing and counts no hits, for any string and kind."""
    once = ALL.redact(text, kind)

    assert (once, {}) == ALL.redact_counted(once, kind)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(sorted(corpus.PLANTED)), SEED), min_size=1, max_size=4), TEXT, KIND)
def test_idempotent_with_planted_values(plants, noise, kind):
    """Text mixing real findings with arbitrary noise is a fixed point after one pass."""
    parts = [corpus.PLANTED[d](random.Random(seed))[0] for d, seed in plants]
    text = noise.join(parts) if len(parts) > 1 else parts[0] + noise

    once = ALL.redact(text, kind)

    assert (once, {}) == ALL.redact_counted(once, kind)


@SETTINGS
@given(st.sampled_from(sorted(corpus.PLANTED)), SEED, SEED, st.sampled_from(["", " ", ", ", ": ", "\n", " (", "="]))
def test_planted_values_never_survive(detector, seed, context_seed, glue):
    """A planted value of every detector, between ordinary words, never survives redaction."""
    value, secrets = corpus.PLANTED[detector](random.Random(seed))
    r = random.Random(context_seed)
    text = corpus.sentence(r, r.randint(0, 6)) + " " + value + glue + " " + corpus.sentence(r, r.randint(0, 6))

    out = ALL.redact(text)

    assert [] == [s for s in secrets if s in out]


@SETTINGS
@given(st.lists(SEED, min_size=1, max_size=8), SEED, KIND)
def test_benign_tokens_survive(seeds, context_seed, kind):
    """Version strings, addresses, line numbers, class and module names survive among ordinary words."""
    tokens = [corpus.benign_token(random.Random(s)) for s in seeds]
    if kind != "message":
        tokens = [t for t in tokens if "'" not in t]
    r = random.Random(context_seed)
    text = " ".join(f"{t} {r.choice(corpus.WORDS)}" for t in tokens)

    out = ALL.redact(text, kind)

    assert [] == [t for t in tokens if t not in out]


@SETTINGS
@given(st.lists(st.sampled_from(sorted(corpus.PLANTED)), min_size=1, max_size=3), SEED)
def test_each_detector_alone_is_idempotent(detectors, seed):
    """Any subset of detectors is idempotent on text holding values of every kind."""
    red = Redactor(detectors=detectors)
    r = random.Random(seed)
    text = " | ".join(corpus.PLANTED[d](r)[0] for d in sorted(corpus.PLANTED))

    once = red.redact(text)

    assert (once, {}) == red.redact_counted(once)
