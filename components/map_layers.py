"""The Map page's deck.gl (pydeck) pieces: a base map drawn from shipped data — sea, land, APPROXIMATE commune
limits and names from data/communes_outline.geojson (scripts/build_commune_outlines.py) — so that nothing depends
on internet basemap tiles; the sensor layer coloured by status or by value and sized by value; heat and hexagon
layers; colour scales from the metric thresholds and their legend. Pure functions, no Streamlit calls."""

from __future__ import annotations

import html
import json
import math
from functools import cache
from pathlib import Path

import pandas as pd
import pydeck as pdk

ROOT = Path(__file__).resolve().parents[1]
OUTLINE_PATH = ROOT / "data" / "communes_outline.geojson"

# Page titles of the pages this module serves (app.py builds the navigation before any page runs).

CENTER = {"latitude": 14.64, "longitude": -61.02, "zoom": 9.5}
SEA = [214, 230, 244, 255]
LAND = [247, 244, 236, 255]
LAND_ALT = [240, 236, 224, 255]
LIMIT = [160, 150, 135, 200]
COAST = [95, 110, 125, 255]
LABEL = [120, 112, 100, 255]
GREY = [154, 160, 166, 200]
WHITE = [255, 255, 255, 255]
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
RADIUS_M = (350.0, 1500.0)  # sensor disc radius for the lowest / highest value shown
RADIUS_FIXED_M = 700.0
RADIUS_NO_VALUE_M = 300.0
LAYER_MODES = ("points", "heat", "hex")
SENSOR_LAYER_ID = "sensors"
# pydeck turns every plain string argument into a JavaScript expression ("pixels" -> the variable `pixels`, i.e.
# undefined): string options must be wrapped to reach deck.gl as strings.
LITERAL = pdk.types.String


# -- base map from shipped data --------------------------------------------------------------------------------------
@cache
def outline() -> dict:
    """The shipped outline as lists ready for deck.gl layers: coast (rings), communes (polygon, name, insee),
    limits (paths), labels (name, position)."""
    data = json.loads(OUTLINE_PATH.read_text(encoding="utf-8"))
    result: dict = {"coast": [], "communes": [], "limits": [], "labels": [], "source": data.get("source", "")}
    for feature in data["features"]:
        props, geom = feature["properties"], feature["geometry"]
        layer = props["layer"]
        if layer == "coast":
            result["coast"].append({"polygon": geom["coordinates"][0], "name": props.get("name", "")})
        elif layer == "commune":
            result["communes"].append(
                {"polygon": geom["coordinates"][0], "name": props["name"], "insee": props["insee"]}
            )
        elif layer == "limit":
            result["limits"].extend({"path": line} for line in geom["coordinates"])
        elif layer == "label":
            result["labels"].append({"name": props["name"], "position": geom["coordinates"]})
    return result


LABEL_SIZE_PX = 11
LABEL_OFFSETS = ([0, 11], [0, -11], [0, 22], [0, -22])  # below the town centre, above, further below / above


def _mercator_px(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    scale = 512 * 2**zoom
    x = (lon + 180) / 360 * scale
    y = (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2 * scale
    return x, y


def place_labels(labels: list[dict], zoom: float = CENTER["zoom"]) -> list[dict]:
    """Town names that do not overlap at the initial zoom: each name goes below its town centre, else above, else a
    line further; a name with no free place is left out (zooming in only spreads the names further apart). Longer
    names are placed last, so more names fit. Each label gets an `offset` in pixels."""
    boxes: list[tuple[float, float, float, float]] = []
    placed = []
    for label in sorted(labels, key=lambda item: (len(item["name"]), item["name"])):
        x, y = _mercator_px(*label["position"], zoom)
        half_w = 0.29 * LABEL_SIZE_PX * len(label["name"]) + 2
        half_h = 0.6 * LABEL_SIZE_PX
        for dx, dy in LABEL_OFFSETS:
            box = (x + dx - half_w, y + dy - half_h, x + dx + half_w, y + dy + half_h)
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes):
                boxes.append(box)
                placed.append(dict(label, offset=[dx, dy]))
                break
    return placed


def base_layers(*, labels: bool = True) -> list[pdk.Layer]:
    """Sea, land by commune, commune limits, coastline and commune names: drawn by deck.gl itself."""
    shapes = outline()
    communes = [dict(c, fill=LAND if i % 2 == 0 else LAND_ALT) for i, c in enumerate(shapes["communes"])]
    sea = [{"polygon": [[-63.5, 12.5], [-58.5, 12.5], [-58.5, 16.8], [-63.5, 16.8]]}]
    layers = [
        pdk.Layer("PolygonLayer", sea, id="sea", get_polygon="polygon", get_fill_color=SEA, stroked=False),
        pdk.Layer("PolygonLayer", communes, id="communes", get_polygon="polygon", get_fill_color="fill", stroked=False),
        pdk.Layer(
            "PathLayer",
            shapes["limits"],
            id="commune-limits",
            get_path="path",
            get_color=LIMIT,
            get_width=1,
            width_units=LITERAL("pixels"),
        ),
        pdk.Layer(
            "PolygonLayer",
            shapes["coast"],
            id="coast",
            get_polygon="polygon",
            filled=False,
            stroked=True,
            get_line_color=COAST,
            get_line_width=1.6,
            line_width_units=LITERAL("pixels"),
        ),
    ]
    if labels:
        layers.append(
            pdk.Layer(
                "TextLayer",
                place_labels(shapes["labels"]),
                id="commune-names",
                get_position="position",
                get_text="name",
                get_size=LABEL_SIZE_PX,
                get_color=LABEL,
                size_units=LITERAL("pixels"),
                character_set=LITERAL("auto"),
                font_family=LITERAL('"Source Sans Pro", "DejaVu Sans", sans-serif'),
                get_pixel_offset="offset",
            )
        )
    return layers


# -- colours and sizes ---------------------------------------------------------------------------------------------
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


def value_colors(values: pd.Series, metric: dict) -> tuple[list[list[int]], list[tuple[float, list[int]]]]:
    """RGBA per value (grey where missing) and the stops used."""
    present = values.dropna()
    lo, hi = (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)
    stops = color_stops(metric, lo, hi)
    colors = [[*ramp(v, stops), 230] if _num(v) is not None else GREY for v in values]
    return colors, stops


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


def legend_gradient(stops: list[tuple[float, list[int]]], fmt, unit: str, lo: float, hi: float) -> str:
    """HTML legend: a gradient bar over [min shown, max shown] (or the stops' span) with value labels."""
    first, last = min(stops[0][0], lo), max(stops[-1][0], hi)
    span = (last - first) or 1.0
    parts = [f"{hex_color(ramp(first, stops))} 0%"]
    parts += [f"{hex_color(c)} {100 * (v - first) / span:.1f}%" for v, c in stops if first < v < last]
    parts.append(f"{hex_color(ramp(last, stops))} 100%")
    ticks = sorted({first, last, *[v for v, _ in stops if first <= v <= last]})
    labels = "".join(
        f'<span style="position:absolute;left:{100 * (v - first) / span:.1f}%;transform:translateX(-50%);'
        f'white-space:nowrap">{html.escape(fmt(v))}</span>'
        for v in ticks
    )
    return (
        '<div class="mm-legend" style="max-width:520px;margin:4px 0 26px 0">'
        f'<div style="height:12px;border-radius:3px;background:linear-gradient(to right, {", ".join(parts)})"></div>'
        f'<div style="position:relative;height:14px;font-size:0.75rem;color:#555">{labels}</div>'
        f'<div style="font-size:0.75rem;color:#555;margin-top:2px">{html.escape(unit)}</div></div>'
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


# -- the deck ----------------------------------------------------------------------------------------------------------
def sensor_layer(points: pd.DataFrame) -> pdk.Layer:
    """Discs at the sensors (columns longitude, latitude, color, radius, line, tip, sensor_id): pickable, so a click
    selects the sensor and hovering shows its tooltip."""
    data = points[["sensor_id", "longitude", "latitude", "color", "radius", "line", "tip"]].to_dict("records")
    return pdk.Layer(
        "ScatterplotLayer",
        data,
        id=SENSOR_LAYER_ID,
        get_position=["longitude", "latitude"],
        get_fill_color="color",
        get_line_color="line",
        get_radius="radius",
        radius_units=LITERAL("meters"),
        radius_min_pixels=4,
        radius_max_pixels=26,
        line_width_min_pixels=1.5,
        stroked=True,
        filled=True,
        pickable=True,
        auto_highlight=True,
    )


def value_layer(points: pd.DataFrame, mode: str) -> pdk.Layer | None:
    """Heat (mean value around each place) or hexagons (mean value per 2.5 km hexagon) of the sensors' values."""
    data = points.loc[points["value"].notna(), ["longitude", "latitude", "value"]].to_dict("records")
    if not data or mode == "points":
        return None
    if mode == "heat":
        return pdk.Layer(
            "HeatmapLayer",
            data,
            id="heat",
            get_position=["longitude", "latitude"],
            get_weight="value",
            aggregation=LITERAL("MEAN"),
            radius_pixels=70,
            opacity=0.55,
        )
    return pdk.Layer(
        "HexagonLayer",
        data,
        id="hex",
        get_position=["longitude", "latitude"],
        get_color_weight="value",
        color_aggregation=LITERAL("MEAN"),
        get_elevation_weight="value",
        elevation_aggregation=LITERAL("MEAN"),
        radius=2500,
        coverage=0.92,
        extruded=False,
        opacity=0.45,
        color_range=[[*VIRIDIS[k], 255] for k in range(len(VIRIDIS))],
    )


TOOLTIP_STYLE = {
    "backgroundColor": "rgba(255, 255, 255, 0.96)",
    "color": "#222",
    "fontSize": "0.8rem",
    "border": "1px solid #ccc",
    "borderRadius": "4px",
    "padding": "6px 8px",
}


def deck(points: pd.DataFrame, *, mode: str = "points", labels: bool = True, height: int = 620) -> pdk.Deck:
    """The whole map: base layers from shipped data, optional heat/hexagon layer, sensors on top. No basemap
    provider (map_provider=None): no tile is ever requested."""
    layers = base_layers(labels=labels)
    extra = value_layer(points, mode)
    if extra is not None:
        layers.append(extra)
    layers.append(sensor_layer(points))
    return pdk.Deck(
        layers=layers,
        initial_view_state=pdk.ViewState(**CENTER),
        map_provider=None,
        tooltip={"html": "{tip}", "style": TOOLTIP_STYLE},
        height=height,
    )


def tooltip_html(title: str, lines: list[tuple[str, str]], sep: str = " : ") -> str:
    """Tooltip body: an escaped title and escaped 'label: value' lines (sep " : " in French, ": " in English)."""
    body = "".join(f"<br/>{html.escape(label)}{sep}{html.escape(value)}" for label, value in lines if value)
    return f"<b>{html.escape(title)}</b>{body}"
