"""Inline SVG sparklines for the group list: markup made of numbers only, no script, no style
attribute (the strict CSP allows both nowhere), labelled for screen readers."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

__all__ = ["sparkline"]

_WIDTH, _HEIGHT, _PAD = 112, 28, 2


def sparkline(counts: Sequence[int], *, label: str) -> Markup:
    """An SVG polyline of ``counts`` (oldest first), its peak marked; ``label`` is escaped."""
    n = len(counts)
    peak = max(counts) if counts else 0
    step = (_WIDTH - 2 * _PAD) / max(n - 1, 1)
    scale = (_HEIGHT - 2 * _PAD) / peak if peak else 0.0
    points = " ".join(f"{_PAD + i * step:.1f},{_HEIGHT - _PAD - c * scale:.1f}" for i, c in enumerate(counts))
    title = Markup.escape(label)
    return Markup(
        f'<svg class="spark" role="img" width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>')
