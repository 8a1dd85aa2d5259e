"""The single source of truth for metrics, communes and sensors of Madinina Monitor.

Everything that needs to know what a metric is (unit, labels, physically possible range, alert thresholds) or
which sensors exist (the simulator, the validation, the registry that syncs the `metrics` and `sensors` tables,
the dashboard) imports it from here. Facts and thresholds come from /work/shared/martinique/FACTS.md
(Madininair / French-EU air-quality thresholds, sargassum H2S bands, road-noise limits); where no official
threshold exists, the value is a documented project choice (see the comment on each line).

The sensor list is deterministic: ids, names and coordinates are computed from a fixed table and a hash of the
sensor id, never from a random generator.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

KINDS = ("air_quality", "weather", "noise", "traffic", "parking", "light", "environment", "sargassum")

# Bounding box of Martinique (IGN GEOFLA vertices): longitude min/max, latitude min/max.
BBOX_LON = (-61.229, -60.811)
BBOX_LAT = (14.388, 14.879)

COMMUNES_CSV = Path(__file__).resolve().parent / "data" / "communes.csv"


@dataclass(frozen=True)
class Metric:
    metric: str
    unit: str
    label_fr: str
    label_en: str
    valid_min: float
    valid_max: float
    warn_low: float | None
    warn_high: float | None
    crit_low: float | None
    crit_high: float | None

    def status_of(self, value: float) -> str:
        """ "critical" beyond a critical threshold, "warning" beyond a warning one, else "ok" (strict bounds)."""
        if (self.crit_low is not None and value < self.crit_low) or (
            self.crit_high is not None and value > self.crit_high
        ):
            return "critical"
        if (self.warn_low is not None and value < self.warn_low) or (
            self.warn_high is not None and value > self.warn_high
        ):
            return "warning"
        return "ok"


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    latitude: float
    longitude: float
    population: int


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    name: str
    kind: str
    commune: str
    insee: str
    latitude: float
    longitude: float
    expected_interval_s: int
    metrics: tuple[str, ...]
    tags: tuple[str, ...] = ()


def _m(metric, unit, fr, en, vmin, vmax, warn_low=None, warn_high=None, crit_low=None, crit_high=None) -> Metric:
    return Metric(metric, unit, fr, en, float(vmin), float(vmax), warn_low, warn_high, crit_low, crit_high)


_UG = "µg/m³"

METRICS: dict[str, Metric] = {
    m.metric: m
    for m in (
        # Project choice: heat warning above 32 °C, critical above 35 °C (Fort-de-France max is 29-31 °C).
        _m("temperature", "°C", "Température", "Temperature", -10, 60, warn_high=32.0, crit_high=35.0),
        _m("humidity", "%", "Humidité relative", "Relative humidity", 0, 100),
        # Project choice: below 1000 hPa a tropical disturbance is near, below 990 hPa a storm (Dean: ~970).
        _m(
            "pressure",
            "hPa",
            "Pression atmosphérique",
            "Atmospheric pressure",
            850,
            1100,
            warn_low=1000.0,
            crit_low=990.0,
        ),
        # Project choice: 50 km/h = strong trade-wind episode on the Atlantic coast; 90 km/h = storm force.
        _m("wind_speed", "km/h", "Vitesse du vent", "Wind speed", 0, 350, warn_high=50.0, crit_high=90.0),
        _m("wind_direction", "°", "Direction du vent", "Wind direction", 0, 360),
        # Project choice: 30 mm/h = heavy shower (flash-flood watch), 50 mm/h = torrential rain.
        _m("rain", "mm/h", "Pluie (intensité)", "Rain rate", 0, 300, warn_high=30.0, crit_high=50.0),
        # Madininair / French thresholds: information and alert levels (FACTS.md).
        _m("pm10", _UG, "PM10 (particules)", "PM10 (particulate matter)", 0, 2000, warn_high=50.0, crit_high=80.0),
        _m("pm25", _UG, "PM2,5 (particules fines)", "PM2.5 (fine particles)", 0, 1000, warn_high=30.0, crit_high=50.0),
        _m("no2", _UG, "Dioxyde d'azote (NO₂)", "Nitrogen dioxide (NO₂)", 0, 2000, warn_high=200.0, crit_high=400.0),
        _m("o3", _UG, "Ozone (O₃)", "Ozone (O₃)", 0, 1000, warn_high=180.0, crit_high=240.0),
        _m("so2", _UG, "Dioxyde de soufre (SO₂)", "Sulphur dioxide (SO₂)", 0, 3000, warn_high=300.0, crit_high=500.0),
        # Project choice (indoor air, common ventilation guidance): 1000 ppm = ventilate, 1500 ppm = poor.
        _m(
            "co2",
            "ppm",
            "Dioxyde de carbone (CO₂)",
            "Carbon dioxide (CO₂)",
            250,
            10000,
            warn_high=1000.0,
            crit_high=1500.0,
        ),
        # Sargassum H2S bands (FACTS.md): 1-5 ppm "poor", > 5 ppm "very poor".
        _m("h2s", "ppm", "Sulfure d'hydrogène (H₂S)", "Hydrogen sulphide (H₂S)", 0, 100, warn_high=1.0, crit_high=5.0),
        # NH3 action threshold 8.3 ppm (FACTS.md); warning at 2 ppm is a project choice (early warning).
        _m("nh3", "ppm", "Ammoniac (NH₃)", "Ammonia (NH₃)", 0, 500, warn_high=2.0, crit_high=8.3),
        # LAeq, dB(A): 65 = night "point noir" level, 70 = day "point noir" level (FACTS.md).
        _m("noise", "dB(A)", "Bruit (LAeq)", "Noise (LAeq)", 20, 140, warn_high=65.0, crit_high=70.0),
        _m("traffic_flow", "veh/h", "Débit de trafic", "Traffic flow", 0, 20000),
        # Project choice: below 20 km/h the road is congested, below 10 km/h it is jammed.
        _m(
            "traffic_speed",
            "km/h",
            "Vitesse moyenne du trafic",
            "Average traffic speed",
            0,
            250,
            warn_low=20.0,
            crit_low=10.0,
        ),
        # Project choice: 90 % = nearly full, 98 % = full.
        _m(
            "parking_occupancy",
            "%",
            "Taux d'occupation du parking",
            "Parking occupancy",
            0,
            100,
            warn_high=90.0,
            crit_high=98.0,
        ),
        _m("light_level", "%", "Niveau d'éclairage", "Lighting level", 0, 100),
        _m("power", "W", "Puissance électrique", "Electrical power", 0, 20000),
        # Project choice: replace the battery below 20 %, critical below 10 %.
        _m("battery", "%", "Batterie", "Battery", 0, 100, warn_low=20.0, crit_low=10.0),
    )
}

KIND_METRICS: dict[str, tuple[str, ...]] = {
    "air_quality": ("pm10", "pm25", "no2", "o3", "so2"),
    "weather": ("temperature", "humidity", "pressure", "wind_speed", "wind_direction", "rain", "battery"),
    "noise": ("noise", "battery"),
    "traffic": ("traffic_flow", "traffic_speed"),
    "parking": ("parking_occupancy", "battery"),
    "light": ("light_level", "power"),
    "environment": ("temperature", "humidity", "co2", "pressure", "battery"),
    "sargassum": ("h2s", "nh3", "battery"),
}

KIND_LABELS: dict[str, tuple[str, str]] = {
    "air_quality": ("Qualité de l'air", "Air quality"),
    "weather": ("Station météo", "Weather station"),
    "noise": ("Sonomètre", "Noise meter"),
    "traffic": ("Comptage trafic", "Traffic counter"),
    "parking": ("Parking", "Car park"),
    "light": ("Éclairage public", "Street lighting"),
    "environment": ("Capteur intérieur", "Indoor sensor"),
    "sargassum": ("Sargasses H₂S/NH₃", "Sargassum H₂S/NH₃"),
}

KIND_CODES: dict[str, str] = {
    "air_quality": "aq",
    "weather": "wx",
    "noise": "no",
    "traffic": "tr",
    "parking": "pk",
    "light": "lt",
    "environment": "env",
    "sargassum": "sg",
}

# Short codes used in sensor ids (mq-<commune>-<kind>-<nn>).
COMMUNE_CODES: dict[str, str] = {
    "97201": "ajb", "97202": "ana", "97203": "bpo", "97204": "car", "97205": "cpi", "97206": "dia",
    "97207": "duc", "97208": "fsd", "97209": "fdf", "97210": "fra", "97211": "gri", "97212": "gmo",
    "97213": "lam", "97214": "lor", "97215": "mac", "97216": "mgt", "97217": "mar", "97218": "mro",
    "97219": "pre", "97220": "rpi", "97221": "rsa", "97222": "rob", "97223": "ses", "97224": "sjo",
    "97225": "spi", "97226": "san", "97227": "slu", "97228": "sma", "97229": "sch", "97230": "tri",
    "97231": "til", "97232": "vau", "97233": "mve", "97234": "bel",
}  # fmt: skip

# Town centres are on the coast: the jitter pushes sensors inland, (sign of dlat, sign of dlon); 0 = either way.
_INLAND: dict[str, tuple[int, int]] = {
    "97209": (1, 0), "97229": (0, 1), "97205": (0, 1), "97234": (0, 1), "97204": (0, 1), "97225": (0, 1),
    "97219": (0, 1), "97202": (1, 1), "97206": (1, 0), "97231": (1, 0), "97227": (1, 0), "97220": (1, 0),
    "97217": (1, 0), "97226": (1, 0), "97232": (0, -1), "97210": (0, -1), "97222": (0, -1), "97230": (0, -1),
    "97228": (0, -1), "97216": (0, -1), "97214": (-1, -1), "97203": (-1, 0), "97215": (-1, 0), "97211": (-1, 0),
}  # fmt: skip

# (insee, kind, place, tags). Order matters: it fixes the sensor numbers. Tags used by the simulator:
# "atlantic" / "caribbean" coast, "high_ground", "urban", "roadside", "industrial", corridors "A1", "RN1", "RN2",
# "RN5" (+ "secondary" for a less busy section), "indoor", "24h" (building occupied day and night), "campus",
# "beach", "hotspot" (worst sargassum strandings).
_SITES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # Air quality: the Madininair station towns (FACTS.md).
    ("97209", "air_quality", "Hôtel de Ville", ("urban",)),
    ("97209", "air_quality", "Bishop", ("urban", "roadside")),
    ("97209", "air_quality", "Concorde", ("urban", "roadside")),
    ("97209", "air_quality", "Renéville", ("urban",)),
    ("97213", "air_quality", "Bas Mission", ("urban", "roadside", "industrial")),
    ("97229", "air_quality", "Bourg", ("urban", "caribbean")),
    ("97222", "air_quality", "Bourg", ("atlantic",)),
    ("97227", "air_quality", "Bourg", ()),
    ("97225", "air_quality", "Bourg", ("caribbean",)),
    ("97210", "air_quality", "Bourg (poussières désertiques)", ("atlantic",)),
    # Weather, across the island, including high ground.
    ("97209", "weather", "Pointe Simon", ("caribbean", "urban")),
    ("97213", "weather", "Aéroport Aimé Césaire", ()),
    ("97218", "weather", "Bourg", ("high_ground",)),
    ("97208", "weather", "Morne des Cadets", ("high_ground",)),
    ("97225", "weather", "Bourg", ("caribbean",)),
    ("97230", "weather", "Bourg", ("atlantic",)),
    ("97232", "weather", "Bourg", ("atlantic",)),
    ("97226", "weather", "Bourg", ("atlantic",)),
    ("97217", "weather", "Marina", ()),
    ("97203", "weather", "Bourg", ("atlantic",)),
    ("97206", "weather", "Bourg", ("caribbean",)),
    # Noise, along the busy roads.
    ("97209", "noise", "Dillon (A1)", ("urban", "A1")),
    ("97209", "noise", "Centre-ville", ("urban",)),
    ("97213", "noise", "Acajou (A1)", ("A1",)),
    ("97229", "noise", "Terreville (RN2)", ("RN2",)),
    ("97207", "noise", "Bourg (RN5)", ("RN5",)),
    # Traffic counters on the A1 / RN1 / RN5 corridors (and the RN2).
    ("97209", "traffic", "A1 Dillon", ("A1",)),
    ("97213", "traffic", "A1 Aéroport", ("A1",)),
    ("97213", "traffic", "RN1 Mangot-Vulcin", ("RN1",)),
    ("97222", "traffic", "RN1 Bourg", ("RN1", "secondary")),
    ("97207", "traffic", "RN5 Carrère–Ducos", ("RN5",)),
    ("97221", "traffic", "RN5 Petit-Bourg", ("RN5", "secondary")),
    ("97229", "traffic", "RN2 Fond Lahaye", ("RN2",)),
    # Parking, in towns and at beaches.
    ("97209", "parking", "Pointe Simon", ("urban",)),
    ("97209", "parking", "La Savane", ("urban",)),
    ("97213", "parking", "Centre-ville", ("urban",)),
    ("97229", "parking", "Campus universitaire", ("campus",)),
    ("97231", "parking", "Pointe du Bout", ("beach",)),
    ("97217", "parking", "Marina", ("beach",)),
    ("97226", "parking", "Les Salines", ("beach",)),
    # Street lighting.
    ("97209", "light", "Front de mer", ("urban",)),
    ("97213", "light", "Centre-ville", ("urban",)),
    ("97222", "light", "Bourg", ()),
    ("97224", "light", "Bourg", ()),
    ("97228", "light", "Bourg", ()),
    ("97204", "light", "Bourg", ()),
    # Indoor environment (the seeds' sensors): temperature, humidity, CO2, pressure, battery.
    ("97209", "environment", "Hôtel de Ville", ("indoor",)),
    ("97209", "environment", "Bibliothèque Schœlcher", ("indoor",)),
    ("97213", "environment", "Aérogare", ("indoor", "24h")),
    ("97229", "environment", "Université des Antilles", ("indoor", "campus")),
    ("97207", "environment", "Mairie", ("indoor",)),
    ("97230", "environment", "Hôpital", ("indoor", "24h")),
    # Sargassum H2S/NH3, Atlantic coast only.
    ("97210", "sargassum", "Littoral", ("atlantic", "hotspot")),
    ("97222", "sargassum", "Littoral", ("atlantic", "hotspot")),
    ("97232", "sargassum", "Littoral", ("atlantic",)),
    ("97226", "sargassum", "Cap Chevalier", ("atlantic",)),
    ("97230", "sargassum", "Tartane", ("atlantic",)),
    ("97228", "sargassum", "Littoral", ("atlantic",)),
    ("97216", "sargassum", "Littoral", ("atlantic",)),
    ("97203", "sargassum", "Littoral", ("atlantic",)),
)

# Communes with sargassum strandings (FACTS.md): sargassum sensors may only be placed there.
ATLANTIC_COAST = frozenset({"97226", "97232", "97210", "97222", "97230", "97228", "97216", "97214", "97203"})


@cache
def load_communes() -> dict[str, Commune]:
    """The 34 communes, keyed by INSEE code, from ingestion/data/communes.csv (UTF-8)."""
    communes: dict[str, Commune] = {}
    with COMMUNES_CSV.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            communes[row["insee"]] = Commune(
                insee=row["insee"],
                name=row["commune"],
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                population=int(row["population"]),
            )
    return communes


def _unit_hash(text: str) -> tuple[float, float]:
    """Two uniforms in [0, 1) from a string (stable across runs and platforms)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    a = int.from_bytes(digest[:8], "little") >> 11
    b = int.from_bytes(digest[8:], "little") >> 11
    return a / 2**53, b / 2**53


def _jitter(u: float, sign: int) -> float:
    """A deterministic offset within ±0.008° (inland when sign is ±1)."""
    if sign:
        return sign * (0.001 + 0.007 * u)
    return (2.0 * u - 1.0) * 0.006


def _clamp(value: float, bounds: tuple[float, float], margin: float = 0.002) -> float:
    return min(max(value, bounds[0] + margin), bounds[1] - margin)


def _build_sensors() -> tuple[Sensor, ...]:
    communes = load_communes()
    counters: dict[tuple[str, str], int] = {}
    sensors = []
    for insee, kind, place, tags in _SITES:
        commune = communes[insee]
        number = counters[(insee, kind)] = counters.get((insee, kind), 0) + 1
        sensor_id = f"mq-{COMMUNE_CODES[insee]}-{KIND_CODES[kind]}-{number:02d}"
        u_lat, u_lon = _unit_hash(sensor_id)
        s_lat, s_lon = _INLAND.get(insee, (0, 0))
        lat = _clamp(round(commune.latitude + _jitter(u_lat, s_lat), 5), BBOX_LAT)
        lon = _clamp(round(commune.longitude + _jitter(u_lon, s_lon), 5), BBOX_LON)
        if kind == "environment" and "indoor" not in tags:
            tags = (*tags, "indoor")
        sensors.append(
            Sensor(
                sensor_id=sensor_id,
                name=f"{KIND_LABELS[kind][0]} – {commune.name} {place}",
                kind=kind,
                commune=commune.name,
                insee=insee,
                latitude=lat,
                longitude=lon,
                expected_interval_s=1,
                metrics=KIND_METRICS[kind],
                tags=tuple(tags),
            )
        )
    return tuple(sensors)


SENSORS: tuple[Sensor, ...] = _build_sensors()
SENSORS_BY_ID: dict[str, Sensor] = {s.sensor_id: s for s in SENSORS}


# --- units --------------------------------------------------------------------------------------------------


def _identity(v: float) -> float:
    return v


def _percent(v: float) -> float:
    return v * 100.0


def _f_to_c(v: float) -> float:
    return (v - 32.0) * 5.0 / 9.0


def _k_to_c(v: float) -> float:
    return v - 273.15


def _scale(factor: float) -> Callable[[float], float]:
    def convert(v: float) -> float:
        return v * factor

    return convert


_POLLUTANT_UNITS = ("ug/m3", "µg/m³", "μg/m³", "µg/m3", "μg/m3", "ug/m³", "microgram/m3")
_FRACTION_UNITS = ("0-1", "ratio", "fraction")
_PERCENT_UNITS = ("%", "percent", "pct")

UNIT_ALIASES: dict[tuple[str, str], Callable[[float], float]] = {
    **{("temperature", u): _identity for u in ("C", "°C", "celsius", "Celsius", "degC", "CEL")},
    **{("temperature", u): _f_to_c for u in ("F", "°F", "fahrenheit", "Fahrenheit", "degF", "FAH")},
    **{("temperature", u): _k_to_c for u in ("K", "kelvin", "Kelvin")},
    **{("humidity", u): _percent for u in _FRACTION_UNITS},
    **{("humidity", u): _identity for u in (*_PERCENT_UNITS, "%RH", "RH")},
    ("pressure", "Pa"): _scale(0.01),
    ("pressure", "kPa"): _scale(10.0),
    ("pressure", "mbar"): _identity,
    ("pressure", "hPa"): _identity,
    ("wind_speed", "m/s"): _scale(3.6),
    ("wind_speed", "kmh"): _identity,
    ("wind_speed", "kph"): _identity,
    ("wind_speed", "mph"): _scale(1.609344),
    ("wind_speed", "kn"): _scale(1.852),
    ("wind_speed", "knots"): _scale(1.852),
    **{("wind_direction", u): _identity for u in ("deg", "degrees", "degree")},
    ("rain", "mm"): _identity,  # precipitation over the last hour (FIWARE "precipitation")
    **{("noise", u): _identity for u in ("dB", "dBA", "dB(A)", "dba")},
    **{(m, u): _identity for m in ("pm10", "pm25", "no2", "o3", "so2") for u in _POLLUTANT_UNITS},
    ("co2", "ppm"): _identity,
    **{(m, "ppb"): _scale(0.001) for m in ("co2", "h2s", "nh3")},
    **{(m, "ppm"): _identity for m in ("h2s", "nh3")},
    ("traffic_flow", "veh/min"): _scale(60.0),
    ("traffic_flow", "vehicles/h"): _identity,
    **{(m, u): _percent for m in ("parking_occupancy", "light_level", "battery") for u in _FRACTION_UNITS},
    **{(m, u): _identity for m in ("parking_occupancy", "light_level", "battery") for u in _PERCENT_UNITS},
    ("power", "kW"): _scale(1000.0),
}

# Case-insensitive fallback (e.g. "DBA", "KPA"); built once.
_ALIASES_FOLDED: dict[tuple[str, str], Callable[[float], float]] = {}
for (_metric, _alias), _convert in UNIT_ALIASES.items():
    _ALIASES_FOLDED.setdefault((_metric, _alias.casefold()), _convert)


def normalise_unit(metric: str, unit: str | None, value: float) -> float:
    """`value` expressed in `unit` -> the catalogue unit of `metric`. None or "" means the catalogue unit.

    Raises ValueError("unknown unit ...") for a unit that is neither the catalogue unit nor a known alias, and
    ValueError("unknown metric ...") for a metric that is not in the catalogue."""
    definition = METRICS.get(metric)
    if definition is None:
        raise ValueError(f"unknown metric {metric!r}")
    if unit is None:
        return value
    unit = str(unit).strip()
    if unit == "" or unit == definition.unit:
        return value
    convert = UNIT_ALIASES.get((metric, unit)) or _ALIASES_FOLDED.get((metric, unit.casefold()))
    if convert is None:
        if unit.casefold() == definition.unit.casefold():
            return value
        raise ValueError(f"unknown unit {unit[:32]!r} for {metric} (expected {definition.unit})")
    return convert(value)
