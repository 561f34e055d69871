"""Small inline SVG charts for the group page: bars of a distribution and columns of daily
counts. Markup made of numbers and escaped labels only, no script and no style attribute
(the strict CSP allows neither), each an ``img`` for screen readers with a title; the page
puts a table of the same numbers beside it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

__all__ = ["bar_chart", "day_columns"]

_BAR_WIDTH, _BAR_ROW, _LABEL_CHARS = 240, 18, 24
_COL_WIDTH, _COL_HEIGHT = 600, 80


def _svg(width: int, height: int, label: str, body: str) -> Markup:
    title = Markup.escape(label)
    return Markup(f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                  f'aria-label="{title}"><title>{title}</title>{body}</svg>')


def bar_chart(rows: Sequence[tuple[str, int]], *, label: str) -> Markup:
    """Horizontal bars of ``rows`` ((value, count), largest first), values and counts written
    beside them; ``label`` and every value are escaped."""
    peak = max((n for _, n in rows), default=0)
    scale = (_BAR_WIDTH - 150) / peak if peak else 0.0
    parts = []
    for i, (value, n) in enumerate(rows):
        y = i * _BAR_ROW
        shown = value if len(value) <= _LABEL_CHARS else value[:_LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="11" fill="currentColor">{Markup.escape(shown)}</text>'
                     f'<rect x="150" y="{y + 3}" width="{max(n * scale, 1):.1f}" height="12" fill="currentColor" '
                     f'opacity="0.6"/><text x="{150 + n * scale + 4:.1f}" y="{y + 13}" font-size="11" '
                     f'fill="currentColor">{n}</text>')
    return _svg(_BAR_WIDTH + 40, max(len(rows), 1) * _BAR_ROW, label, "".join(parts))


def day_columns(counts: Sequence[int], *, label: str) -> Markup:
    """One column per day of ``counts`` (oldest first), the peak's height the chart's."""
    n = len(counts)
    peak = max(counts, default=0)
    step = _COL_WIDTH / max(n, 1)
    scale = (_COL_HEIGHT - 2) / peak if peak else 0.0
    parts = [f'<rect x="{i * step + 0.5:.1f}" y="{_COL_HEIGHT - c * scale:.1f}" width="{max(step - 1, 1):.1f}" '
             f'height="{c * scale:.1f}" fill="currentColor"/>' for i, c in enumerate(counts) if c]
    parts.append(f'<line x1="0" y1="{_COL_HEIGHT - 0.5}" x2="{_COL_WIDTH}" y2="{_COL_HEIGHT - 0.5}" '
                 f'stroke="currentColor" stroke-width="1" opacity="0.4"/>')
    return _svg(_COL_WIDTH, _COL_HEIGHT, label, "".join(parts))
