"""The Map page's colour scales, sizes and legends. One `ValueScale` per view gives the sensor discs, the heat or
hexagon layer and the legend their colours, so a legend can never disagree with what is drawn:

- colour by value, discs only: a continuous ramp (green for normal values, yellow at the warning threshold, red at
  the critical one; viridis for a metric without thresholds), the legend a gradient of the same ramp;
- heat or hexagons: deck.gl colours an aggregate by quantizing [lo, hi] into its colour range, so the range is the
  ramp sampled in BINS equal classes, the discs take the colour of their class, and the legend shows those classes.

Pure functions, no Streamlit calls."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

GREY = [154, 160, 166, 200]
RGB = {
    "online": [30, 142, 62],
    "stale": [232, 163, 23],
    "offline": [197, 34, 31],
    "green": [30, 142, 62],
    "yellow": [240, 190, 30],
    "red": [197, 34, 31],
    "warning": [232, 113, 10],
    "critical": [197, 34, 31],
}
# A sequential ramp (viridis) for metrics without thresholds.
VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]
BINS = 6  # classes of the heat / hexagon colour range (deck.gl's heat map takes at most 6 colours)
RADIUS_M = (350.0, 1500.0)  # sensor disc radius for the lowest / highest value shown
RADIUS_FIXED_M = 700.0
RADIUS_NO_VALUE_M = 300.0
DISC_ALPHA = 230


def _num(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def color_stops(metric: dict, lo: float, hi: float) -> list[tuple[float, list[int]]]:
    """Colour stops (value, rgb) of a metric's scale over the values shown [lo, hi]. With thresholds: green for
    normal values, yellow at the warning threshold, red at the critical one (on the low side, high side or both).
    Without: viridis from lo to hi."""
    warn_low, warn_high = _num(metric.get("warn_low")), _num(metric.get("warn_high"))
    crit_low, crit_high = _num(metric.get("crit_low")), _num(metric.get("crit_high"))
    if all(v is None for v in (warn_low, warn_high, crit_low, crit_high)):
        if hi <= lo:
            hi = lo + 1.0
        return [(lo + (hi - lo) * k / (len(VIRIDIS) - 1), VIRIDIS[k]) for k in range(len(VIRIDIS))]
    stops: list[tuple[float, list[int]]] = []
    low_edge = crit_low if crit_low is not None else warn_low
    high_edge = crit_high if crit_high is not None else warn_high
    if low_edge is not None:
        if crit_low is not None:
            stops.append((crit_low, RGB["red"]))
        if warn_low is not None:
            stops.append((warn_low, RGB["yellow"]))
    # The green part spans the normal values shown (at least a little beyond the warning thresholds).
    normal_lo = warn_low if warn_low is not None else low_edge
    normal_hi = warn_high if warn_high is not None else high_edge
    if normal_lo is None:
        stops.append((min(lo, normal_hi - 1e-9), RGB["green"]))
    elif normal_hi is None:
        stops.append((max(hi, normal_lo + 1e-9), RGB["green"]))
    else:
        stops.append(((normal_lo + normal_hi) / 2, RGB["green"]))
    if high_edge is not None:
        if warn_high is not None:
            stops.append((warn_high, RGB["yellow"]))
        if crit_high is not None:
            stops.append((crit_high, RGB["red"]))
    stops.sort(key=lambda s: s[0])
    return stops


def ramp(value: float, stops: list[tuple[float, list[int]]]) -> list[int]:
    """Linear interpolation between colour stops; clamped at both ends."""
    if value <= stops[0][0]:
        return list(stops[0][1])
    for (v0, c0), (v1, c1) in zip(stops, stops[1:], strict=False):
        if value <= v1:
            f = 0.0 if v1 == v0 else (value - v0) / (v1 - v0)
            return [round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)]
    return list(stops[-1][1])


@dataclass(frozen=True)
class ValueScale:
    """The colours of one view: `stops` over the values shown [lo, hi]; `binned` when an aggregate layer is drawn."""

    stops: tuple[tuple[float, tuple[int, ...]], ...]
    lo: float
    hi: float
    binned: bool = False

    def _stops(self) -> list[tuple[float, list[int]]]:
        return [(v, list(c)) for v, c in self.stops]

    def bins(self) -> list[tuple[float, float, list[int]]]:
        """BINS equal classes of [lo, hi] (lo_k, hi_k, colour of the class middle): deck.gl's quantize scale."""
        width = (self.hi - self.lo) / BINS
        return [
            (self.lo + k * width, self.lo + (k + 1) * width, ramp(self.lo + (k + 0.5) * width, self._stops()))
            for k in range(BINS)
        ]

    def color(self, value: float) -> list[int]:
        if not self.binned:
            return ramp(value, self._stops())
        k = 0 if self.hi <= self.lo else int((value - self.lo) / (self.hi - self.lo) * BINS)
        return self.bins()[min(max(k, 0), BINS - 1)][2]

    def layer_colors(self) -> dict:
        """colorRange / colorDomain for a deck.gl HeatmapLayer or HexagonLayer drawn with this scale."""
        return {"color_range": [[*c, 255] for _, _, c in self.bins()], "color_domain": [self.lo, self.hi]}


def value_scale(values: pd.Series, metric: dict, *, binned: bool = False) -> ValueScale:
    """The scale of the values shown (thresholds of `metric` when it has some)."""
    present = values.dropna()
    lo, hi = (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1e-9 if binned else hi
    stops = tuple((v, tuple(c)) for v, c in color_stops(metric, lo, hi))
    return ValueScale(stops, lo, hi, binned)


def value_colors(values: pd.Series, scale: ValueScale) -> list[list[int]]:
    """RGBA per value from the scale (grey where missing)."""
    return [[*scale.color(v), DISC_ALPHA] if _num(v) is not None else GREY for v in values]


def radii(values: pd.Series) -> list[float]:
    """Disc radius in metres by value over the values shown; a fixed size when they are all equal."""
    present = values.dropna()
    if present.empty:
        return [RADIUS_NO_VALUE_M] * len(values)
    lo, hi = float(present.min()), float(present.max())
    out = []
    for v in values:
        v = _num(v)
        if v is None:
            out.append(RADIUS_NO_VALUE_M)
        elif hi <= lo:
            out.append(RADIUS_FIXED_M)
        else:
            out.append(RADIUS_M[0] + (RADIUS_M[1] - RADIUS_M[0]) * (v - lo) / (hi - lo))
    return out


def hex_color(rgb: list[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def legend(scale: ValueScale, fmt, title: str) -> str:
    """HTML legend of a scale: a gradient bar with the stops inside [lo, hi] (discs), or one block per class with its
    bounds (heat / hexagons). Its colours are also in data attributes (data-colors; data-stops: value:colour pairs,
    the gradient's stops or the classes' lower bounds), read by the browser tests."""
    if scale.binned:
        bins = scale.bins()
        points = " ".join(f"{lo!r}:{hex_color(c)}" for lo, _, c in bins) + f" {bins[-1][1]!r}:{hex_color(bins[-1][2])}"
        colors = [hex_color(c) for _, _, c in bins]
        blocks = "".join(f'<div style="flex:1;background:{c}"></div>' for c in colors)
        bar = f'<div style="display:flex;height:12px;border-radius:3px;overflow:hidden">{blocks}</div>'
        ticks = [bins[0][0]] + [hi for _, hi, _ in bins]
        positions = [100 * k / BINS for k in range(BINS + 1)]
    else:
        stops = scale._stops()
        first, last = min(stops[0][0], scale.lo), max(stops[-1][0], scale.hi)
        span = (last - first) or 1.0
        inner = [(v, c) for v, c in stops if first < v < last]
        parts = [(first, ramp(first, stops)), *inner, (last, ramp(last, stops))]
        colors = [hex_color(c) for _, c in parts]
        points = " ".join(f"{v!r}:{hex_color(c)}" for v, c in parts)
        gradient = ", ".join(f"{hex_color(c)} {100 * (v - first) / span:.1f}%" for v, c in parts)
        bar = f'<div style="height:12px;border-radius:3px;background:linear-gradient(to right, {gradient})"></div>'
        ticks = sorted({first, last, *[v for v, _ in inner]})
        positions = [100 * (v - first) / span for v in ticks]
    labels = "".join(
        f'<span style="position:absolute;left:{p:.1f}%;transform:translateX(-50%);white-space:nowrap">'
        f"{html.escape(fmt(v))}</span>"
        for v, p in zip(ticks, positions, strict=True)
    )
    return (
        f'<div class="mm-legend mm-scale" data-binned="{str(scale.binned).lower()}" '
        f'data-colors="{" ".join(colors)}" data-stops="{points}" style="max-width:520px;margin:4px 12px 26px 12px">{bar}'
        f'<div style="position:relative;height:14px;font-size:0.75rem;color:#555">{labels}</div>'
        f'<div style="font-size:0.75rem;color:#555;margin-top:2px">{html.escape(title)}</div></div>'
    )


def legend_swatches(items: list[tuple[list[int], str]]) -> str:
    """HTML legend of coloured dots with labels."""
    cells = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:16px">'
        f'<span style="width:12px;height:12px;border-radius:50%;background:{hex_color(rgb)};'
        f'display:inline-block;margin-right:6px;border:1px solid #fff;box-shadow:0 0 0 1px #bbb"></span>'
        f"{html.escape(label)}</span>"
        for rgb, label in items
    )
    return f'<div class="mm-legend" style="font-size:0.85rem;margin:4px 0 8px 0">{cells}</div>'
