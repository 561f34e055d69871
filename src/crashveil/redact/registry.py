"""Every detector in the order they run, and the plan steps they form.

The order is load-bearing (see :func:`crashveil.redact.engine._settle`): it is the ``rank``
of each :class:`~crashveil.redact.detector.Detector` entry in the family modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from crashveil.redact.detector import Detector
from crashveil.redact.detectors import accounts, addresses, network, numbers, paths, people, secrets, text

__all__ = ["ALL_STEPS", "BY_NAME", "DEFAULT_PLACEHOLDERS", "DETECTORS", "NUMERIC_STEP", "REGISTRY", "STEPS", "STEP_OF"]

REGISTRY: tuple[Detector, ...] = tuple(sorted(
    (*paths.DETECTORS, *secrets.DETECTORS, *network.DETECTORS, *numbers.DETECTORS, *text.DETECTORS,
     *people.DETECTORS, *addresses.DETECTORS, *accounts.DETECTORS),
    key=lambda d: d.rank))
"""Every detector, in the order they run."""

BY_NAME: Mapping[str, Detector] = MappingProxyType({d.name: d for d in REGISTRY})

DETECTORS: tuple[str, ...] = tuple(d.name for d in REGISTRY)
"""Every detector name, in the order they run."""

DEFAULT_PLACEHOLDERS: Mapping[str, str] = MappingProxyType({d.name: d.placeholder for d in REGISTRY})
"""Detector name -> the placeholder that replaces what it finds."""

NUMERIC_STEP = "numeric"
"""The plan step of the digit-run detectors (:func:`crashveil.redact.gates.numeric_group`)."""


def _steps() -> tuple[str, ...]:
    """Detector names in run order, the consecutive digit-run members folded into one step."""
    steps: list[str] = []
    for d in REGISTRY:
        name = NUMERIC_STEP if d.digit_run else d.name
        if name in steps:
            if steps[-1] != name:
                raise AssertionError(f"digit-run detector {d.name} is not next to the others")
            continue
        steps.append(name)
    return tuple(steps)


STEPS: tuple[str, ...] = _steps()
"""Plan steps in the order they run; ``"numeric"`` is :func:`crashveil.redact.gates.numeric_group`.
Bit ``1 << i`` of a :func:`crashveil.redact.gates.triggers` mask stands for step ``i``."""

STEP_OF: Mapping[str, int] = MappingProxyType({
    **{name: i for i, name in enumerate(STEPS)},
    **{d.name: STEPS.index(NUMERIC_STEP) for d in REGISTRY if d.digit_run},
})
"""Step name or detector name -> its step index."""

ALL_STEPS = (1 << len(STEPS)) - 1

if STEPS[0] != "home_path":  # the engine runs it before the first trigger scan
    raise AssertionError("home_path must run first")
