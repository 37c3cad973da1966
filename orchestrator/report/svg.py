"""Charts as inline SVG, drawn here: scatter, line and heatmap.

The HTML report must open offline and pull nothing in, so charts are SVG
elements written into the page (no xmlns or other URL is needed inline).
Every mark has a `<title>`, which browsers show as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
HEIGHT = 380
MARGIN_LEFT = 72
MARGIN_RIGHT = 210  # room for the legend
MARGIN_TOP = 36
MARGIN_BOTTOM = 52
# Tableau 10: distinct for the usual handful of instance types, colour-blind
# tolerable; series beyond ten reuse colours with another marker size.
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
# A log axis once the data spans this factor: concurrency 1…256, costs.
LOG_AXIS_SPAN = 50.0
TARGET_TICKS = 6
# Room around the data so no mark sits on the frame.
AXIS_PADDING = 0.06
# Beyond this many decimals a tick reads better as 1e-05.
MAX_TICK_DECIMALS = 6


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    tooltips: Sequence[str] = ()
    color: str | None = None  # None: the next colour of the palette


@dataclass(frozen=True)
class _Axis:
    low: float
    high: float
    log: bool
    ticks: tuple[float, ...]
    decimals: int | None = None  # None: log axis, ticks written as %g

    def scale(self, value: float, start: float, end: float) -> float:
        low, high, value = self.low, self.high, value
        if self.log:
            low, high, value = math.log10(low), math.log10(high), math.log10(value)
        fraction = 0.5 if high == low else (value - low) / (high - low)
        return start + fraction * (end - start)


def scatter_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    *,
    lines: bool = False,
    hline: tuple[float, str] | None = None,
) -> str:
    """Points (joined in x order when `lines`) of each series, with a legend."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if hline is not None:
        ys.append(hline[0])
    if not xs:
        return ""
    x_axis, y_axis = _axis(xs), _axis(ys)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        return x_axis.scale(x, left, right), y_axis.scale(y, bottom, top)

    parts = [_frame(title, x_axis, y_axis, x_label, y_label)]
    if hline is not None:
        _, y = at(x_axis.low, hline[0])
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="threshold"><title>{escape(hline[1])}</title></line>'
        )
    colors = [one.color or PALETTE[i % len(PALETTE)] for i, one in enumerate(series)]
    for index, one in enumerate(series):
        color = colors[index]
        radius = 4 + 2 * (index // len(PALETTE))
        ordered = sorted(
            zip(one.points, _tips(one), strict=True), key=lambda item: item[0][0]
        )
        if lines and len(ordered) > 1:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{a:.1f},{b:.1f}"
                for i, ((x, y), _) in enumerate(ordered)
                for a, b in [at(x, y)]
            )
            parts.append(f'<path d="{path}" fill="none" stroke="{color}"/>')
        for (x, y), tip in ordered:
            cx, cy = at(x, y)
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append(
        _legend([(s.label, PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)])
    )
    return _svg(title, "".join(parts))


def heatmap(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    text: Callable[[int, int], str],
    tooltip: Callable[[int, int], str],
) -> str:
    """A grid coloured from light (cheap) to dark (dear) on a log scale."""
    if not rows or not columns:
        return ""
    label_width = 300
    cell_width = min(110, (WIDTH - label_width - 20) // len(columns))
    cell_height = 26
    height = MARGIN_TOP + 24 + cell_height * len(rows) + 12
    numbers = [v for row in values for v in row if v is not None and v > 0]
    low = math.log10(min(numbers)) if numbers else 0.0
    high = math.log10(max(numbers)) if numbers else 1.0
    parts = [f'<text x="8" y="20" class="title">{escape(title)}</text>']
    for j, column in enumerate(columns):
        x = label_width + j * cell_width + cell_width / 2
        parts.append(
            f'<text x="{x:.1f}" y="{MARGIN_TOP + 14}" text-anchor="middle">'
            f"{escape(column)}</text>"
        )
    for i, row in enumerate(rows):
        y = MARGIN_TOP + 24 + i * cell_height
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end">'
            f"{escape(_clip(row, 44))}<title>{escape(row)}</title></text>"
        )
        for j in range(len(columns)):
            value = values[i][j]
            shade = 0.0
            if value is not None and value > 0 and high > low:
                shade = (math.log10(value) - low) / (high - low)
            fill = _blend(shade) if value is not None else "#eeeeee"
            ink = "#ffffff" if shade > 0.6 else "#222222"
            x = label_width + j * cell_width
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_width - 2}" '
                f'height="{cell_height - 2}" fill="{fill}">'
                f"<title>{escape(tooltip(i, j))}</title></rect>"
                f'<text x="{x + cell_width / 2 - 1:.1f}" y="{y + 17}" '
                f'text-anchor="middle" fill="{ink}">{escape(text(i, j))}</text>'
            )
    return _svg(title, "".join(parts), height=height)


def _frame(title: str, x: _Axis, y: _Axis, x_label: str, y_label: str) -> str:
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    parts = [
        f'<text x="8" y="20" class="title">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{right - left}" '
        f'height="{bottom - top}" class="plot"/>',
    ]
    for tick in x.ticks:
        px = x.scale(tick, left, right)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}" '
            f'class="grid"/><text x="{px:.1f}" y="{bottom + 16}" '
            f'text-anchor="middle">{_tick_text(tick, x.decimals)}</text>'
        )
    for tick in y.ticks:
        py = y.scale(tick, bottom, top)
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{py + 4:.1f}" '
            f'text-anchor="end">{_tick_text(tick, y.decimals)}</text>'
        )
    x_note = " (log scale)" if x.log else ""
    y_note = " (log scale)" if y.log else ""
    parts.append(
        f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 12}" '
        f'text-anchor="middle">{escape(x_label + x_note)}</text>'
        f'<text transform="translate(16 {(top + bottom) / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label + y_note)}</text>'
    )
    return "".join(parts)


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    x = WIDTH - MARGIN_RIGHT + 14
    parts = []
    for index, (label, color) in enumerate(entries[:14]):
        y = MARGIN_TOP + 8 + index * 18
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="{color}"/>'
            f'<text x="{x + 10}" y="{y + 4}">{escape(_clip(label, 30))}'
            f"<title>{escape(label)}</title></text>"
        )
    if len(entries) > 14:
        y = MARGIN_TOP + 8 + 14 * 18
        parts.append(f'<text x="{x}" y="{y + 4}">… {len(entries) - 14} more</text>')
    return "".join(parts)


def _axis(values: Sequence[float]) -> _Axis:
    low, high = min(values), max(values)
    if low > 0 and high / low >= LOG_AXIS_SPAN:
        first = math.floor(math.log10(low))
        last = math.ceil(math.log10(high))
        ticks = tuple(10.0**power for power in range(first, last + 1))
        return _Axis(10.0**first, 10.0**last, True, ticks)
    if low == high:
        low, high = (low - 1, high + 1) if low == 0 else (low * 0.9, high * 1.1)
    pad = (high - low) * AXIS_PADDING
    # Start at zero when the data sits closer to zero than its own span.
    low = 0.0 if 0 <= low < (high - low) else low - pad
    high += pad
    step = _nice_step((high - low) / TARGET_TICKS)
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    count = round((end - start) / step)
    ticks = tuple(start + i * step for i in range(count + 1))
    return _Axis(start, end, False, ticks, _decimals(step))


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _decimals(step: float) -> int:
    """Digits after the point that tell every tick of this step apart."""
    decimals = max(0, -math.floor(math.log10(step)))
    scaled = step * 10**decimals
    return decimals + (0 if abs(scaled - round(scaled)) < 1e-9 else 1)


def _tick_text(value: float, decimals: int | None) -> str:
    if decimals is None or decimals > MAX_TICK_DECIMALS:
        return f"{value:g}"
    return f"{value:,.{decimals}f}"


def _tips(series: Series) -> Sequence[str]:
    if len(series.tooltips) == len(series.points):
        return series.tooltips
    return [f"{series.label}: {x:.4g}, {y:.4g}" for x, y in series.points]


def _blend(shade: float) -> str:
    """Light yellow (0) to dark red (1)."""
    light, dark = (255, 245, 204), (177, 0, 38)
    rgb = (round(a + (b - a) * shade) for a, b in zip(light, dark, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _svg(title: str, body: str, height: int = HEIGHT) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">{body}</svg>'
    )
