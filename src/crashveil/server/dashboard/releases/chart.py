"""The adoption chart: active installations per day as inline SVG bars.

Markup made of numbers and one escaped label only: no script, no style attribute, no external
reference (the strict CSP allows none of them), labelled for screen readers, with the page's
table of the same numbers as its text alternative. A day below k is drawn as an empty day, so
the chart shows nothing the table hides.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

__all__ = ["adoption_chart"]

_WIDTH, _HEIGHT, _PAD = 180, 36, 2


def adoption_chart(installs: Sequence[int | None], *, label: str) -> Markup:
    """SVG bars of ``installs`` per day (oldest first; None: fewer than k, drawn empty)."""
    values = [value or 0 for value in installs]
    peak = max(values, default=0)
    n = max(len(values), 1)
    slot = (_WIDTH - 2 * _PAD) / n
    scale = (_HEIGHT - 2 * _PAD) / peak if peak else 0.0
    bars = []
    for index, value in enumerate(values):
        if not value:
            continue
        height = max(value * scale, 1.0)
        bars.append(f'<rect x="{_PAD + index * slot:.1f}" y="{_HEIGHT - _PAD - height:.1f}" '
                    f'width="{max(slot - 1, 1):.1f}" height="{height:.1f}"/>')
    title = Markup.escape(label)
    return Markup(
        f'<svg class="adoption" role="img" width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<line x1="0" y1="{_HEIGHT - _PAD}" x2="{_WIDTH}" y2="{_HEIGHT - _PAD}" stroke="currentColor" '
        f'stroke-width="0.5"/><g fill="currentColor">{"".join(bars)}</g></svg>')
