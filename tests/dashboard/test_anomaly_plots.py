"""Volume anomaly detection and the SVG plots."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from crashveil.server.insights.anomaly import VolumeAnomalyCollector, anomalies, hours_back
from crashveil.server.insights.plots import bar_chart_svg, nice_ticks, sparkline_svg, time_series_svg

from .conftest import NOW

SVG = "{http://www.w3.org/2000/svg}"


def _series(counts: list[int]) -> list[tuple[str, int]]:
    return list(zip(hours_back(NOW, len(counts)), counts, strict=False))


def test_a_spike_is_flagged_at_its_hour() -> None:
    """A jump from about 20 per hour to 200 is flagged at that hour and nowhere else."""
    counts = [20, 22, 19, 21, 20, 18, 23, 20, 21, 19, 22, 20, 21, 20, 19, 200, 21, 20]
    flagged = [score.hour for score in anomalies(_series(counts))]
    assert [hours_back(NOW, 18)[15]] == flagged


def test_poisson_noise_is_not_an_anomaly() -> None:
    """A week of Poisson-like hourly counts around 30 raises no alarm."""
    rng = random.Random(7)
    counts = [sum(rng.random() < 0.3 for _ in range(100)) for _ in range(168)]
    assert [] == anomalies(_series(counts))


def test_small_counts_never_alarm() -> None:
    """From zero to five crashes is below the minimum count and is not flagged."""
    assert [] == anomalies(_series([0] * 30 + [5]))


def test_collector_exports_zscore_per_project(engine, seed) -> None:
    """The metric names the project and the number of anomalous groups in the current hour."""
    seed.project("p1")
    gid = seed.group("p1", "c" * 16)
    for back in range(1, 30):
        seed.reports("p1", gid, when=NOW - timedelta(hours=back), count=3, installs=["i1"])
    seed.reports("p1", gid, when=NOW, count=120, installs=["i1"])
    registry = CollectorRegistry()
    registry.register(VolumeAnomalyCollector(engine, clock=lambda: NOW))
    text = generate_latest(registry).decode()
    assert ('crashveil_volume_anomalous_groups{project="p1"} 1.0' in text, True) == (
        True, 'crashveil_volume_zscore{project="p1"}' in text)


def test_nice_ticks_cover_the_maximum() -> None:
    """Ticks are round numbers from zero up to at least the maximum."""
    assert [0.0, 50.0, 100.0, 150.0, 200.0] == nice_ticks(163)


def test_time_series_has_axes_units_and_escaped_title() -> None:
    """The time plot is well-formed SVG with unit labels and a script-looking title kept as text."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    points = [(start + timedelta(hours=h), h % 7) for h in range(48)]
    svg = time_series_svg(points, title="<script>alert(1)</script>", y_unit="reports per hour",
                          marks=[points[10][0]])
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert (True, True, True, [], 1) == (
        "reports per hour" in texts, "time (UTC)" in texts, "<script>alert(1)</script>" in texts,
        list(root.iter(f"{SVG}script")), len(list(root.iter(f"{SVG}circle"))) - 1)


def test_bar_chart_escapes_labels() -> None:
    """A release named like markup becomes text in the bar chart, never an element."""
    svg = bar_chart_svg([('"><img src=x onerror=alert(1)>', 5), ("2.0", 3)], title="by release", x_unit="reports")
    root = ET.fromstring(svg)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert ([], True) == (list(root.iter(f"{SVG}img")), any(label and label.startswith('"><img') for label in labels))


def test_sparkline_labels_the_peak_with_its_unit() -> None:
    """The small trend plot says its peak and unit."""
    root = ET.fromstring(sparkline_svg([0, 3, 9, 2], unit="per day"))
    assert "peak 9 per day" == next(root.iter(f"{SVG}text")).text
