"""Charts as inline SVG, drawn on the server: pure functions from numbers to markup.

No JavaScript and no network: a page is readable as it arrives, printed or
offline. Every label is escaped; shapes carry classes (``bar``,
``interval``, ``line``) that dashboard.css colours and tests look for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

# Colour-blind safe (Okabe-Ito); control cells are drawn grey.
PALETTE: Final = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442")
CONTROL: Final = "#8c8c8c"
MARGIN: Final = (24, 16, 44, 56)  # top, right, bottom, left
LEGEND: Final = 120  # width kept right of a line chart for its legend


@dataclass(frozen=True)
class IntervalBar:
    """One bar: a rate (0..1) with its interval [low, high]."""

    label: str
    value: float
    low: float
    high: float
    control: bool = False


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points in increasing x, drawn as steps (a cumulative count)."""

    label: str
    points: tuple[tuple[float, float], ...]
    control: bool = False


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `high` (about `count` of them)."""
    if high <= 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(high / step - 1e-9) + 1)]


def percent(value: float) -> str:
    """A share as a short percentage: 0.0345 -> "3.45%", 0.5 -> "50%", 82.6 -> "8,260%"."""
    if abs(value) >= 10:
        return f"{value * 100:,.0f}%"
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def rate_bars(
    bars: Sequence[IntervalBar], *, title: str, width: int = 560, height: int = 300
) -> Markup:
    """Vertical bars of rates with interval whiskers, a percentage y axis and cell labels."""
    top, right, bottom, left = MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max([b.high for b in bars] + [b.value for b in bars] + [0.0]))
    y = _scale(ticks[-1], top + plot_h, plot_h)
    slot = plot_w / max(len(bars), 1)
    parts = [_open(width, height, title), *_y_axis(ticks, y, left, width - right, percent)]
    for i, bar in enumerate(bars):
        x = left + slot * i + slot * 0.2
        w = slot * 0.6
        middle = x + w / 2
        colour = CONTROL if bar.control else PALETTE[i % len(PALETTE)]
        tip = f"{bar.label}: {percent(bar.value)} ({percent(bar.low)}–{percent(bar.high)})"
        parts += [
            f'<rect class="bar" x="{x:.1f}" y="{y(bar.value):.1f}" width="{w:.1f}" '
            f'height="{max(y(0) - y(bar.value), 0):.1f}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>",
            f'<path class="interval" d="M{middle:.1f},{y(bar.low):.1f}V{y(bar.high):.1f}'
            f'M{middle - 6:.1f},{y(bar.low):.1f}h12M{middle - 6:.1f},{y(bar.high):.1f}h12" '
            'stroke="#222" stroke-width="1.5" fill="none"/>',
            f'<text class="value" x="{middle + 9:.1f}" y="{y(bar.value) - 4:.1f}">'
            f"{escape(percent(bar.value))}</text>",
            f'<text class="label" x="{middle:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(bar.label)}</text>',
        ]
    return _close(parts)


def step_lines(
    series: Sequence[Series],
    *,
    title: str,
    x_ticks: Sequence[tuple[float, str]],
    y_format: str = "percent",
    width: int = 560,
    height: int = 300,
) -> Markup:
    """Step lines (cumulative counts or rates) with a legend; x labelled at `x_ticks`."""
    top, right, bottom, left = MARGIN
    plot_w, plot_h = width - left - right - LEGEND, height - top - bottom
    xs = [x for s in series for x, _ in s.points] + [x for x, _ in x_ticks]
    x_low, x_high = min(xs, default=0.0), max(xs, default=1.0)
    span = (x_high - x_low) or 1.0
    ticks = nice_ticks(max([v for s in series for _, v in s.points] + [0.0]))
    y = _scale(ticks[-1], top + plot_h, plot_h)

    def x(value: float) -> float:
        return left + (value - x_low) / span * plot_w

    shown = percent if y_format == "percent" else _count
    parts = [_open(width, height, title), *_y_axis(ticks, y, left, left + plot_w, shown)]
    for at, text in x_ticks:
        parts.append(
            f'<text class="tick" x="{x(at):.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    for i, line in enumerate(series):
        colour = CONTROL if line.control else PALETTE[i % len(PALETTE)]
        parts += [
            _steps(line, x, y, colour, x_high),
            _legend(line.label, i, colour, left + plot_w + 12, top),
        ]
    return _close(parts)


def _steps(line: Series, x, y, colour: str, x_end: float) -> str:  # type: ignore[no-untyped-def]
    """A step path: flat until each point, then up; continued flat to the end of the axis."""
    if not line.points:
        return ""
    first_x, first_y = line.points[0]
    d = [f"M{x(first_x):.1f},{y(first_y):.1f}"]
    for px, py in line.points[1:]:
        d.append(f"H{x(px):.1f}V{y(py):.1f}")
    d.append(f"H{x(x_end):.1f}")
    return (
        f'<path class="line" d="{"".join(d)}" stroke="{colour}" stroke-width="2" fill="none">'
        f"<title>{escape(line.label)}</title></path>"
    )


def _legend(label: str, index: int, colour: str, x: float, top: float) -> str:
    y = top + 8 + index * 18
    return (
        f'<rect class="key" x="{x:.1f}" y="{y - 8:.1f}" width="12" height="4" fill="{colour}"/>'
        f'<text class="legend" x="{x + 16:.1f}" y="{y:.1f}">{escape(label)}</text>'
    )


def _scale(high: float, bottom: float, height: float):  # type: ignore[no-untyped-def]
    """value -> y pixel (0 at `bottom`, `high` at the top of the plot)."""
    return lambda value: bottom - (max(value, 0.0) / (high or 1.0)) * height


def _y_axis(ticks: list[float], y, x_from: float, x_to: float, shown) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for tick in ticks:
        lines.append(
            f'<line class="grid" x1="{x_from}" x2="{x_to:.1f}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#ddd"/>'
            f'<text class="tick" x="{x_from - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(shown(tick))}</text>"
        )
    lines.append(
        f'<path class="axis" d="M{x_from},{y(ticks[-1]):.1f}V{y(0):.1f}H{x_to:.1f}" '
        'stroke="#444" fill="none"/>'
    )
    return lines


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _close(parts: list[str]) -> Markup:
    return Markup("".join([*parts, "</svg>"]))
