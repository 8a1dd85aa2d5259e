"""The Map page's deck.gl (pydeck) pieces: a base map drawn from shipped data — sea, land, APPROXIMATE commune
limits and names from data/communes_outline.geojson (scripts/build_commune_outlines.py) — so that nothing depends
on internet basemap tiles; the sensor layer coloured by status or by value and sized by value; heat and hexagon
layers coloured by the view's scale (components.map_legend). Pure functions, no Streamlit calls."""

from __future__ import annotations

import html
import json
import math
from functools import cache
from pathlib import Path

import pandas as pd
import pydeck as pdk

from components.map_legend import ValueScale

ROOT = Path(__file__).resolve().parents[1]
OUTLINE_PATH = ROOT / "data" / "communes_outline.geojson"

CENTER = {"latitude": 14.64, "longitude": -61.02, "zoom": 9.5}
SEA = [214, 230, 244, 255]
LAND = [247, 244, 236, 255]
LAND_ALT = [240, 236, 224, 255]
LIMIT = [160, 150, 135, 200]
COAST = [95, 110, 125, 255]
LABEL = [120, 112, 100, 255]
WHITE = [255, 255, 255, 255]
LAYER_MODES = ("points", "heat", "hex")
HEX_RADIUS_M = 2500
HEX_OPACITY = 0.45
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


def value_layer(points: pd.DataFrame, mode: str, scale: ValueScale | None) -> pdk.Layer | None:
    """Heat (mean value around each place) or hexagons (mean value per 2.5 km hexagon) of the sensors' values,
    coloured by `scale` (its classes over the values shown: the legend's)."""
    data = points.loc[points["value"].notna(), ["longitude", "latitude", "value"]].to_dict("records")
    if not data or mode == "points" or scale is None:
        return None
    colors = scale.layer_colors()
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
            **colors,
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
        radius=HEX_RADIUS_M,
        coverage=0.92,
        extruded=False,
        opacity=HEX_OPACITY,
        color_scale_type=LITERAL("quantize"),
        **colors,
    )


TOOLTIP_STYLE = {
    "backgroundColor": "rgba(255, 255, 255, 0.96)",
    "color": "#222",
    "fontSize": "0.8rem",
    "border": "1px solid #ccc",
    "borderRadius": "4px",
    "padding": "6px 8px",
}


def deck(
    points: pd.DataFrame,
    *,
    mode: str = "points",
    scale: ValueScale | None = None,
    labels: bool = True,
    height: int = 620,
) -> pdk.Deck:
    """The whole map: base layers from shipped data, optional heat/hexagon layer, sensors on top. No basemap
    provider (map_provider=None): no tile is ever requested."""
    layers = base_layers(labels=labels)
    extra = value_layer(points, mode, scale)
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
