"""The generalisation ladder of a report's quasi-identifiers, and a stored row cut to a rung.

The quasi-identifiers a report can carry (the policy's fields of sensitivity
``quasi-identifier`` that describe the installation): ``environment`` (OS family and version,
Python implementation and version, processor), ``device_class`` and ``tags``. Each rung
names the combination a report is stored with; each is a generalisation of the one above:

- rung 0, exact: everything as received (Windows 10.0.19045, CPython 3.12.4, x86_64, desktop, tags);
- rung 1: OS major version, Python ``major.minor``, processor, device class (Windows 10, CPython 3.12,
  x86_64, desktop): tags dropped;
- rung 2: OS family, Python major, device class (Windows, CPython 3, desktop);
- rung 3, suppressed: none of them (the OS family column is empty).

``occurred_hour`` is a quasi-identifier too, but a stored report also carries the server's own
arrival time, so coarsening the reported hour alone would hide nothing: time is not a rung
here (see ``docs/architecture.md``). ``release`` is ``technical`` in the policy: not a rung.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from crashveil.wire import Report

__all__ = ["EXACT", "NAMED_RUNGS", "RUNGS", "SUPPRESSED", "QuasiClasses", "coarsen_detail", "coarsen_row_values",
           "coarsen_runtime", "quasi_classes"]

EXACT = 0
SUPPRESSED = 3
#: Every rung, finest first.
RUNGS = (0, 1, 2, 3)
#: The rungs that name a combination (the last one names none).
NAMED_RUNGS = (0, 1, 2)


@dataclass(frozen=True, slots=True)
class QuasiClasses:
    """The combination of one report at each named rung (``classes[r]`` is rung ``r``), the
    pseudonym period it falls in and the policy's k. Made in the front process; never stored."""

    period: int
    k: int
    classes: tuple[str, str, str]


def _head(version: str, parts: int) -> str:
    return ".".join(version.split(".")[:parts])


def quasi_classes(report: Report, period: int, k: int) -> QuasiClasses | None:
    """The report's combination at each rung; ``None`` when it carries no quasi-identifier."""
    env, device, tags = report.environment, report.device_class, report.tags
    if env is None and device is None and not tags:
        return None
    device_text = device or ""
    if env is not None:
        fam, impl = env.os_family, env.python_impl
        exact = f"{fam}\x1f{env.os_version}\x1f{impl}\x1f{env.python_version}\x1f{env.arch}"
        major = f"{fam}\x1f{_head(env.os_version, 1)}\x1f{impl}\x1f{_head(env.python_version, 2)}\x1f{env.arch}"
        family = f"{fam}\x1f{impl}\x1f{_head(env.python_version, 1)}"
    else:
        exact = major = family = ""
    tag_text = "\x1e".join(sorted(f"{t.key}\x1f{t.value}" for t in tags)) if tags else ""
    return QuasiClasses(period, k, (f"0\x1d{exact}\x1d{device_text}\x1d{tag_text}", f"1\x1d{major}\x1d{device_text}",
                                 f"2\x1d{family}\x1d{device_text}"))


def coarsen_runtime(runtime: str | None, rung: int) -> str | None:
    """``"CPython 3.12.4"`` at ``rung`` (the group page's runtime facet)."""
    if runtime is None or rung == EXACT:
        return runtime
    if rung == SUPPRESSED:
        return None
    impl, _, version = runtime.partition(" ")
    return f"{impl} {_head(version, 2 if rung == 1 else 1)}"


def _coarsen_env(env: dict[str, Any], rung: int) -> dict[str, Any]:
    version, python = str(env.get("os_version", "")), str(env.get("python_version", ""))
    if rung == 1:
        return {**env, "os_version": _head(version, 1), "python_version": _head(python, 2)}
    return {**env, "os_version": "", "python_version": _head(python, 1), "arch": ""}


def coarsen_detail(plaintext: bytes, rung: int) -> bytes:
    """A detail's plaintext (``storage.detail.detail_json``) with its quasi-identifiers cut to
    ``rung``: the same sorted, compact JSON."""
    data = msgspec.json.decode(plaintext)
    body = data["report"]
    body.pop("tags", None)  # tags only ever stay at the exact rung
    if rung == SUPPRESSED:
        body.pop("environment", None)
        body.pop("device_class", None)
    elif isinstance(body.get("environment"), dict):
        body["environment"] = _coarsen_env(body["environment"], rung)
    return msgspec.json.encode(data, order="sorted")


def coarsen_row_values(os_family: str | None, runtime: str | None, rung: int) -> dict[str, Any]:
    """The clear columns of a stored row at ``rung`` (for ``dataclasses.replace``)."""
    return {"os_family": None if rung == SUPPRESSED else os_family, "runtime": coarsen_runtime(runtime, rung)}

