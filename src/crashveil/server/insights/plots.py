"""Server-side SVG plots with axes, ticks and units.

The dashboard serves each plot as its own ``image/svg+xml`` response shown through
``<img>``: an SVG loaded as an image never runs script and never loads anything, so even a
label that escaped escaping would be inert (the second layer after :func:`_text`, which
XML-escapes every string that reaches a plot, release names included). Styling uses
presentation attributes only (``fill=``, ``stroke=``): the CSP forbids inline ``style``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import escape

__all__ = ["nice_ticks", "time_series_svg", "bar_chart_svg", "sparkline_svg"]

_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
_INK = "#1f2933"
_GRID = "#d9dee3"
_LINE = "#2563eb"
_ALERT = "#c2410c"
_BAR = "#3b82f6"
_MUTED = "#52606d"


def _text(value: object, limit: int = 40) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return str(escape(text))


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``maximum`` (1, 2, 5 times a power of ten)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1:
        step = 1.0
    top = math.ceil(maximum / step) * step
    return [i * step for i in range(int(round(top / step)) + 1)]


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_text(title, 120)}">'
            f'<title>{_text(title, 120)}</title><rect width="{width}" height="{height}" fill="#ffffff"/>'
            + "".join(body) + "</svg>")


@dataclass(frozen=True)
class _Area:
    """The plot area of a time series: ``n`` evenly spaced points, values up to ``y_max``."""

    left: int
    top: int
    plot_w: int
    plot_h: int
    n: int
    y_max: float

    def x_at(self, i: int) -> float:
        return self.left + (self.plot_w * i / (self.n - 1) if self.n > 1 else self.plot_w / 2)

    def y_at(self, v: float) -> float:
        return self.top + self.plot_h - self.plot_h * v / self.y_max


def time_series_svg(points: Sequence[tuple[datetime, int]], *, title: str, y_unit: str, x_unit: str = "time (UTC)",
                    marks: Sequence[datetime] = (), width: int = 720, height: int = 260) -> str:
    """A line plot of counts over time, with a y axis in ``y_unit`` and dated x ticks.

    Args:
        points: ``(moment, count)`` oldest first, evenly spaced.
        marks: moments drawn as orange dots with a legend entry (volume anomalies).
    """
    left, right, top, bottom = 64, 16, 34, 52
    body = [
        f'<text x="{left}" y="20" {_FONT} font-size="14" font-weight="bold" fill="{_INK}">{_text(title, 90)}</text>'
    ]
    values = [count for _, count in points]
    ticks = nice_ticks(max(values, default=0))
    area = _Area(left, top, width - left - right, height - top - bottom, len(points), ticks[-1] or 1.0)
    body += _y_axis(area, ticks)
    if points:
        body += _x_ticks(area, points)
        body += _line(area, points, marks)
    plot_w, plot_h = area.plot_w, area.plot_h
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" {_FONT} font-size="12" fill="{_INK}" '
                f'text-anchor="middle">{_text(x_unit)}</text>')
    body.append(f'<text x="14" y="{top + plot_h / 2:.1f}" {_FONT} font-size="12" fill="{_INK}" text-anchor="middle" '
                f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{_text(y_unit)}</text>')
    if marks:
        body.append(f'<circle cx="{width - 150}" cy="16" r="5" fill="{_ALERT}"/>')
        body.append(f'<text x="{width - 140}" y="20" {_FONT} font-size="11" fill="{_INK}">volume anomaly</text>')
    return _svg(width, height, title, body)


def _y_axis(area: _Area, ticks: Sequence[float]) -> list[str]:
    """Grid lines with their values, and the two axis lines."""
    left, top, plot_w, plot_h = area.left, area.top, area.plot_w, area.plot_h
    body = []
    for tick in ticks:
        y = area.y_at(tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{_GRID}" stroke-width="1"/>'
        )
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" {_FONT} font-size="11" fill="{_MUTED}" '
                    f'text-anchor="end">{_fmt(tick)}</text>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{_INK}" stroke-width="1"/>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{_INK}" '
                'stroke-width="1"/>')
    return body


def _x_ticks(area: _Area, points: Sequence[tuple[datetime, int]]) -> list[str]:
    """Dated ticks: at midnights when the series spans days (evenly spaced dates), else every n/6."""
    n, bottom_y = area.n, area.top + area.plot_h
    span = (points[-1][0] - points[0][0]).total_seconds() if n > 1 else 0
    label_fmt = "%m-%d %H:%M" if span <= 2 * 86400 else "%Y-%m-%d"
    midnights = [i for i, (moment, _) in enumerate(points) if moment.hour == 0] if span > 2 * 86400 else []
    if len(midnights) >= 2:
        ticks_at = midnights[::max(1, math.ceil(len(midnights) / 8))]
    else:
        ticks_at = list(range(0, n, max(1, math.ceil(n / 6))))
    body = []
    for i in ticks_at:
        x = area.x_at(i)
        body.append(f'<line x1="{x:.1f}" y1="{bottom_y}" x2="{x:.1f}" y2="{bottom_y + 5}" stroke="{_INK}"/>')
        body.append(f'<text x="{x:.1f}" y="{bottom_y + 18}" {_FONT} font-size="11" fill="{_MUTED}" '
                    f'text-anchor="middle">{_text(points[i][0].strftime(label_fmt))}</text>')
    return body


def _line(area: _Area, points: Sequence[tuple[datetime, int]], marks: Sequence[datetime]) -> list[str]:
    """The series as one path, and a dot on each marked moment."""
    values = [count for _, count in points]
    path = " ".join(f"{'M' if i == 0 else 'L'}{area.x_at(i):.1f},{area.y_at(v):.1f}" for i, v in enumerate(values))
    body = [f'<path d="{path}" fill="none" stroke="{_LINE}" stroke-width="2" stroke-linejoin="round"/>']
    index = {moment: i for i, (moment, _) in enumerate(points)}
    for mark in marks:
        if mark in index:
            i = index[mark]
            body.append(f'<circle cx="{area.x_at(i):.1f}" cy="{area.y_at(values[i]):.1f}" r="5" fill="{_ALERT}"/>')
    return body


def bar_chart_svg(items: Sequence[tuple[str, int]], *, title: str, x_unit: str, width: int = 520,
                  bar_h: int = 22) -> str:
    """Horizontal bars (one per label, largest first as given) with a value axis in ``x_unit``."""
    left, right, top, bottom = 150, 56, 34, 44
    rows = list(items)[:12]
    plot_h = max(len(rows), 1) * (bar_h + 6)
    height = top + plot_h + bottom
    plot_w = width - left - right
    ticks = nice_ticks(max((v for _, v in rows), default=0), 4)
    x_max = ticks[-1] or 1.0
    body = [f'<text x="10" y="20" {_FONT} font-size="14" font-weight="bold" fill="{_INK}">{_text(title, 70)}</text>']
    for tick in ticks:
        x = left + plot_w * tick / x_max
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{_GRID}"/>')
        body.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" {_FONT} font-size="11" fill="{_MUTED}" '
                    f'text-anchor="middle">{_fmt(tick)}</text>')
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar_h + 6) + 3
        w = plot_w * value / x_max
        body.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" {_FONT} font-size="12" fill="{_INK}" '
                    f'text-anchor="end">{_text(label or "(unknown)", 22)}</text>')
        body.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{_BAR}"/>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}" {_FONT} font-size="11" '
                    f'fill="{_INK}">{_fmt(value)}</text>')
    if not rows:
        body.append(f'<text x="{left}" y="{top + 16}" {_FONT} font-size="12" fill="{_MUTED}">no data</text>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{_INK}"/>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" {_FONT} font-size="12" fill="{_INK}" '
                f'text-anchor="middle">{_text(x_unit)}</text>')
    return _svg(width, height, title, body)


def sparkline_svg(values: Sequence[int], *, unit: str, width: int = 180, height: int = 44) -> str:
    """A small trend line for tables: a baseline, the line, and the peak labelled with its unit."""
    left, right, top, bottom = 4, 4, 12, 4
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(values, default=0)
    n = len(values)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{_GRID}"/>',
            f'<text x="{left}" y="10" {_FONT} font-size="10" fill="{_MUTED}">peak {_fmt(peak)} {_text(unit)}</text>']
    if n > 1 and peak > 0:
        path = " ".join(f"{'M' if i == 0 else 'L'}{left + plot_w * i / (n - 1):.1f},"
                        f"{top + plot_h - plot_h * v / peak:.1f}" for i, v in enumerate(values))
        body.append(f'<path d="{path}" fill="none" stroke="{_LINE}" stroke-width="1.5"/>')
    return _svg(width, height, f"trend, peak {peak} {unit}", body)
