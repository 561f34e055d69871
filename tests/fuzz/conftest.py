"""The fuzz step: property-based tests of the parsers that read attacker or operator bytes.

One hypothesis profile, ``crashveil-fuzz``, shared by every module here (they apply it with
``settings.get_profile``; it is not loaded globally, so other suites keep their own). It is
bounded so the whole step takes well under a minute on two cores, derandomized so the suite
is reproducible, with no deadline (shared CI machines stall). ``CRASHVEIL_FUZZ_SCALE=N``
multiplies the examples and turns derandomization off, for longer exploratory runs;
``scripts/fuzz.py`` is the coverage-guided (atheris) version.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Multiplies ``max_examples`` of every fuzz test; above 1 the runs are random, not derandomized.
SCALE = max(1, int(os.environ.get("CRASHVEIL_FUZZ_SCALE", "1")))

settings.register_profile(
    "crashveil-fuzz",
    max_examples=150 * SCALE,
    deadline=None,
    database=None,
    derandomize=SCALE == 1,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
