"""Build data/communes_outline.geojson: the Martinique coastline and APPROXIMATE commune limits, for the map page.

Run once (the result is committed; nothing here runs when the dashboard runs):

    .venv/bin/python scripts/build_commune_outlines.py            # fetches world-atlas@2.0.2 with `npm pack`
    .venv/bin/python scripts/build_commune_outlines.py --land /path/to/world-atlas/land-10m.json

Sources
- Coastline: Natural Earth 1:10m land polygons, version 4.1.0 (public domain, naturalearthdata.com), as
  redistributed in TopoJSON by the npm package `world-atlas` 2.0.2 (ISC licence), file `land-10m.json`. The
  Martinique ring is the land polygon inside the island's bounding box (133 vertices, about ±200 m).
- Commune limits: NOT official boundaries. No package on the registries reachable here ships the IGN/OSM commune
  polygons of Martinique, so each commune is approximated by the Voronoi cell of its town centre
  (ingestion/data/communes.csv, town-centre coordinates ±1 km) clipped by the coastline. Every commune feature
  carries `"approximate": true` and the page says so.

Output (GeoJSON FeatureCollection, WGS 84, coordinates rounded to 1e-4° ≈ 11 m), features told apart by the
property `layer`:
- `coast`: the island, one Polygon;
- `commune`: one (Multi)Polygon per commune with `insee`, `name`, `approximate` (its area is exact for the
  Voronoi cell ∩ island; a cell cut in two by a bay may carry zero-width seams along the cut, so draw these
  polygons filled, never stroked);
- `limit`: the inland limit between two neighbouring communes, a MultiLineString with `between` (two INSEE codes);
  these lines and the coast are what the map strokes;
- `label`: the town centre of each commune, a Point with `name`.

Pure Python (standard library only): half-plane clipping is exact for convex cells, segments are cut against
the coastline ring.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMUNES_CSV = ROOT / "ingestion" / "data" / "communes.csv"
OUTPUT = ROOT / "data" / "communes_outline.geojson"
WORLD_ATLAS = "world-atlas@2.0.2"
BBOX = (-61.30, 14.30, -60.70, 14.95)  # lon min, lat min, lon max, lat max: Martinique and its waters
LAT0 = 14.64  # local equirectangular projection: x scaled by cos(LAT0) so that distances are metric
KX = math.cos(math.radians(LAT0))
DIGITS = 4
EPS = 1e-12

Point = tuple[float, float]


# -- sources ---------------------------------------------------------------------------------------------------
def fetch_land(workdir: Path) -> Path:
    """`npm pack world-atlas@2.0.2` (the npm registry) and unpack land-10m.json."""
    subprocess.run(["npm", "pack", WORLD_ATLAS, "--silent"], cwd=workdir, check=True, capture_output=True)
    tgz = next(workdir.glob("world-atlas-*.tgz"))
    with tarfile.open(tgz) as tar:
        member = tar.getmember("package/land-10m.json")
        tar.extractall(workdir, members=[member], filter="data")
    return workdir / "package" / "land-10m.json"


def topojson_rings(path: Path) -> list[list[Point]]:
    """Outer rings of every polygon of a TopoJSON file (quantized, delta-encoded arcs)."""
    topo = json.loads(path.read_text(encoding="utf-8"))
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes):
        out: list[Point] = []
        for i in indexes:
            points = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(points if not out else points[1:])
        return out

    rings = []
    for obj in topo["objects"].values():
        for geom in obj.get("geometries", [obj]):
            polygons = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
            rings.extend(ring(polygon[0]) for polygon in polygons)
    return rings


def martinique_ring(rings: list[list[Point]]) -> list[Point]:
    inside = [r for r in rings if all(BBOX[0] < x < BBOX[2] and BBOX[1] < y < BBOX[3] for x, y in r)]
    if not inside:
        raise SystemExit("no land polygon inside the Martinique bounding box")
    ring = max(inside, key=len)
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    return ring


def communes() -> list[dict]:
    with COMMUNES_CSV.open(encoding="utf-8", newline="") as fh:
        return [
            {"insee": r["insee"], "name": r["commune"], "lon": float(r["longitude"]), "lat": float(r["latitude"])}
            for r in csv.DictReader(fh)
        ]


# -- geometry in the local projection ----------------------------------------------------------------------------
def project(p: Point) -> Point:
    return ((p[0] + 61.0) * KX, p[1] - LAT0)


def unproject(p: Point) -> Point:
    return (round(p[0] / KX - 61.0, DIGITS), round(p[1] + LAT0, DIGITS))


def side(p: Point, a: Point, b: Point) -> float:
    """> 0 when p is nearer a than b (inside a's half-plane)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    return -((p[0] - mx) * (b[0] - a[0]) + (p[1] - my) * (b[1] - a[1]))


def clip(polygon: list[Point], a: Point, b: Point) -> list[Point]:
    """Sutherland–Hodgman clip of a polygon by the half-plane of points nearer a than b."""
    out: list[Point] = []
    n = len(polygon)
    for i in range(n):
        p, q = polygon[i], polygon[(i + 1) % n]
        sp, sq = side(p, a, b), side(q, a, b)
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def area(polygon: list[Point]) -> float:
    return 0.5 * sum(
        polygon[i][0] * polygon[(i + 1) % len(polygon)][1] - polygon[(i + 1) % len(polygon)][0] * polygon[i][1]
        for i in range(len(polygon))
    )


def inside(p: Point, polygon: list[Point]) -> bool:
    result = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result


def cut_inside(a: Point, b: Point, polygon: list[Point]) -> list[tuple[Point, Point]]:
    """The parts of segment ab inside polygon."""
    ts = [0.0, 1.0]
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        ex, ey = x2 - x1, y2 - y1
        den = dx * ey - dy * ex
        if abs(den) < EPS:
            continue
        t = ((x1 - a[0]) * ey - (y1 - a[1]) * ex) / den
        u = ((x1 - a[0]) * dy - (y1 - a[1]) * dx) / den
        if 0 < t < 1 and 0 <= u <= 1:
            ts.append(t)
    ts.sort()
    pieces = []
    for t0, t1 in zip(ts, ts[1:], strict=False):
        if t1 - t0 < 1e-9:
            continue
        mid = (a[0] + (t0 + t1) / 2 * dx, a[1] + (t0 + t1) / 2 * dy)
        if inside(mid, polygon):
            pieces.append(((a[0] + t0 * dx, a[1] + t0 * dy), (a[0] + t1 * dx, a[1] + t1 * dy)))
    return pieces


def voronoi_cell(i: int, sites: list[Point], box: list[Point]) -> list[Point]:
    cell = box
    for j, other in enumerate(sites):
        if j != i:
            cell = clip(cell, sites[i], other)
    return cell


def shared_edge(i: int, j: int, cell: list[Point], sites: list[Point]) -> tuple[Point, Point] | None:
    """The edge of cell i lying on the bisector of sites i and j, if any."""
    on = [p for p in cell if abs(side(p, sites[i], sites[j])) < 1e-9]
    if len(on) < 2:
        return None
    on.sort(key=lambda p: (p[0], p[1]))
    a, b = on[0], on[-1]
    return (a, b) if math.dist(a, b) > 1e-9 else None


def ring_coords(polygon: list[Point]) -> list[list[float]]:
    coords = [list(unproject(p)) for p in polygon]
    deduped = [c for k, c in enumerate(coords) if k == 0 or c != coords[k - 1]]
    if deduped[0] != deduped[-1]:
        deduped.append(deduped[0])
    return deduped


def build(land_path: Path) -> dict:
    coast_ll = martinique_ring(topojson_rings(land_path))
    coast = [project(p) for p in coast_ll]
    if area(coast) < 0:
        coast = coast[::-1]  # counter-clockwise, as GeoJSON outer rings
    towns = communes()
    sites = [project((c["lon"], c["lat"])) for c in towns]
    pad = 1.0
    xs, ys = [p[0] for p in coast], [p[1] for p in coast]
    box = [
        (min(xs) - pad, min(ys) - pad),
        (max(xs) + pad, min(ys) - pad),
        (max(xs) + pad, max(ys) + pad),
        (min(xs) - pad, max(ys) + pad),
    ]
    cells = [voronoi_cell(i, sites, box) for i in range(len(sites))]

    features = [
        {
            "type": "Feature",
            "properties": {"layer": "coast", "name": "Martinique", "source": "Natural Earth 1:10m land (v4.1.0)"},
            "geometry": {"type": "Polygon", "coordinates": [ring_coords(coast)]},
        }
    ]
    for i, town in enumerate(towns):
        polygon = coast
        for j in range(len(sites)):
            if j != i:
                polygon = clip(polygon, sites[i], sites[j])
        if len(polygon) < 3 or abs(area(polygon)) < 1e-10:
            raise SystemExit(f"empty cell for {town['name']}")
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "layer": "commune",
                    "insee": town["insee"],
                    "name": town["name"],
                    "approximate": True,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring_coords(polygon)]},
            }
        )
    for i in range(len(sites)):
        for j in range(i + 1, len(sites)):
            edge = shared_edge(i, j, cells[i], sites)
            if edge is None:
                continue
            pieces = cut_inside(edge[0], edge[1], coast)
            if not pieces:
                continue
            features.append(
                {
                    "type": "Feature",
                    "properties": {"layer": "limit", "between": [towns[i]["insee"], towns[j]["insee"]]},
                    "geometry": {
                        "type": "MultiLineString",
                        "coordinates": [[list(unproject(a)), list(unproject(b))] for a, b in pieces],
                    },
                }
            )
    for town in towns:
        features.append(
            {
                "type": "Feature",
                "properties": {"layer": "label", "insee": town["insee"], "name": town["name"]},
                "geometry": {"type": "Point", "coordinates": [town["lon"], town["lat"]]},
            }
        )
    return {
        "type": "FeatureCollection",
        "name": "martinique_communes_approximate",
        "source": (
            "Coastline: Natural Earth 1:10m land v4.1.0 (public domain) via npm world-atlas 2.0.2 (ISC). "
            "Commune limits: APPROXIMATE, Voronoi cells of the town centres of ingestion/data/communes.csv clipped "
            "by the coastline; not official boundaries. Built by scripts/build_commune_outlines.py."
        ),
        "features": features,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--land", type=Path, help="world-atlas land-10m.json (default: fetched with npm pack)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        land = args.land or fetch_land(Path(tmp))
        collection = build(land)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for feature in collection["features"]:
        counts[feature["properties"]["layer"]] = counts.get(feature["properties"]["layer"], 0) + 1
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes): {counts}")


if __name__ == "__main__":
    main()
