"""A typical 30-frame crash report, built by the SDK's collect path, for ``redact_throughput.py``.

:func:`report_calls` raises a real exception through 30 frames of app code (eight modules
under a temporary app root, a chained ``KeyError`` as the cause), adds 20 breadcrumbs of the
bench mix, and builds the report at the ``diagnostic`` level with
:class:`crashveil.sdk.collect.Collector`, recording every ``(text, kind)`` that the collector
hands its redactor. :func:`time_report` replays those calls on an engine: the redaction cost
of one report, without the collector's own work.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crashveil.policy import default_policy
from crashveil.sdk.collect import Collector

FRAMES = 30
MODULES = ["app/api/orders.py", "app/services/payments.py", "app/core/db.py", "app/models/user.py",
           "app/utils/retry.py", "app/views/checkout.py", "app/worker.py", "app/cli.py"]


class _Recorder:
    """A redactor that records what it is asked and answers with the real engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str]] = []

    def redact(self, text: str, kind: str = "message") -> str:
        self.calls.append((text, kind))
        return self.engine.redact(text, kind)  # type: ignore[no-any-return]


def _crash(root: Path) -> BaseException:
    """An exception raised 30 frames deep through the app's modules, with a chained cause."""
    namespace: dict[str, Any] = {}
    for i in range(FRAMES):
        name = MODULES[i % len(MODULES)]
        if i < FRAMES - 1:
            body = f"def f{i}(order):\n    return f{i + 1}(order)\n"
        else:
            body = (f"def f{i}(order):\n    try:\n        return {{}}[order]\n    except KeyError as e:\n"
                    "        raise ValueError(f'payment for order {order} of ann.smith@example.com failed"
                    " (card 4111 1111 1111 1111, retry 3)') from e\n")
        path = root / f"{name[:-3]}_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        exec(compile(body, str(path), "exec"), namespace)
    try:
        namespace["f0"](91234)
    except ValueError as exc:
        return exc
    raise AssertionError("no exception")


def report_calls(engine: Any, breadcrumb: Callable[[random.Random], str]) -> list[tuple[str, str]]:
    """The ``(text, kind)`` calls that building one typical 30-frame report makes to its redactor."""
    rec = _Recorder(engine)
    with tempfile.TemporaryDirectory(prefix="cvbench-report-") as tmp:
        root = Path(tmp) / "shop"
        collector = Collector(default_policy(), app_root=root, release="shop@2.4.1", redactor=rec,
                              now=lambda: 1_790_003_700.0, rng=random.Random(1))
        record = collector.record(_crash(root), mechanism="excepthook")
        r = random.Random(5)
        crumbs = tuple((float(20 - i), r.choice(["http", "db", "ui.click", "log"]), breadcrumb(r)) for i in range(20))
        record = dataclasses.replace(record, breadcrumbs=crumbs)
        collector.build(record, "diagnostic")
    return rec.calls


def time_report(engines: list[Any], calls: list[tuple[str, str]], repeat: int,
                clock: Callable[[], float]) -> list[float]:
    """Median time to redact the report's strings once, per engine (timed in turn, interleaved)."""
    times: list[list[float]] = [[] for _ in engines]
    for i in range(repeat * 10 + 1):
        for engine, out in zip(engines, times, strict=True):
            redact = engine.redact
            t0 = clock()
            for text, kind in calls:
                redact(text, kind)
            if i:  # the first round warms up
                out.append(clock() - t0)
    return [statistics.median(t) for t in times]
