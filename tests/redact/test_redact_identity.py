"""Speed work changes no output: the engine gives exactly the text and hit counts it gave before.

The sample is deterministic: the bench mix of ``bench/redact_throughput.py`` (simulated crash
reports: messages, frame paths, environment values, breadcrumbs, tracebacks) and every planted
value and benign token of the test corpus, alone and in sentences, each redacted as every kind.

- Always: the gated engine (trigger scan, gates, shortcuts) agrees with the ungated one, which
  runs every step on every string: the gates only skip work.
- With ``CRASHVEIL_REDACT_BASELINE=<git revision>``: it also agrees with the engine of that
  revision (``src/crashveil/redact/`` loaded from git into a temporary package, as
  ``bench/redact_throughput.py --against`` does). Run it with the revision a speed change
  starts from; a change of detectors changes outputs on purpose, so it is not on by default.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
import redact_corpus as corpus

from crashveil.redact import KINDS, Redactor

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _mix(reports: int) -> list[tuple[str, str]]:
    sys.path.insert(0, str(_BENCH))
    try:
        from redact_throughput import corpus as bench_corpus
    finally:
        sys.path.remove(str(_BENCH))
    return [(kind, text) for _, kind, text in bench_corpus(reports, seed=2026)]


def sample() -> list[tuple[str, str]]:
    """``(kind, text)`` pairs: the bench mix, then the corpus in every kind."""
    out = _mix(60)
    r = random.Random(19)
    texts: list[str] = []
    for name in sorted(corpus.PLANTED):
        for seed in range(25):
            value = corpus.PLANTED[name](random.Random(seed))[0]
            texts += [value, corpus.sentence(r, 3) + " " + value + r.choice(["", " ", ": ", "=", "\n"]) + " x"]
    for name in sorted(corpus.NATIONAL_IDS):
        texts += [f"id {corpus.NATIONAL_IDS[name](random.Random(seed))} ok" for seed in range(10)]
    texts += corpus.BENIGN_FIXED
    texts += [corpus.sentence(r, 2) + " " + corpus.benign_token(r) + " " + corpus.sentence(r, 2) for _ in range(300)]
    return out + [(kind, text) for text in texts for kind in KINDS]


SAMPLE = sample()


def test_gated_engine_equals_the_ungated_reference() -> None:
    red = Redactor()
    differ = [(kind, text) for kind, text in SAMPLE if red._run(text, kind) != red._run(text, kind, gated=False)]
    assert [] == differ[:5]


@pytest.mark.skipif(not os.environ.get("CRASHVEIL_REDACT_BASELINE"),
                    reason="set CRASHVEIL_REDACT_BASELINE to a git revision to compare with its engine")
def test_engine_equals_the_baseline_revision() -> None:
    sys.path.insert(0, str(_BENCH))
    try:
        from redact_throughput import engine_at
    finally:
        sys.path.remove(str(_BENCH))
    before = engine_at(os.environ["CRASHVEIL_REDACT_BASELINE"])()
    now = Redactor()
    differ = [(kind, text) for kind, text in SAMPLE
              if now.redact_counted(text, kind) != before.redact_counted(text, kind)]
    assert [] == differ[:5], f"{len(differ)} of {len(SAMPLE)} strings differ"
