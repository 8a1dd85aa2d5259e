"""Reading the Map legend's data-stops ("value:#rrggbb ...", components/map_legend.py) the way CSS draws its gradient:
the tests' own interpolation, independent of the page's code, shared by the AppTest and the browser test."""

from __future__ import annotations


def parse_stops(data_stops: str) -> list[tuple[float, list[int]]]:
    return [
        (float(value), [int(code[i : i + 2], 16) for i in (1, 3, 5)])
        for value, code in (item.split(":") for item in data_stops.split())
    ]


def gradient_at(stops: list[tuple[float, list[int]]], value: float) -> list[int]:
    """The colour a CSS linear gradient through `stops` shows at `value` (linear between stops, clamped)."""
    if value <= stops[0][0]:
        return stops[0][1]
    for (v0, c0), (v1, c1) in zip(stops, stops[1:], strict=False):
        if value <= v1:
            f = 0.0 if v1 == v0 else (value - v0) / (v1 - v0)
            return [round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)]
    return stops[-1][1]
