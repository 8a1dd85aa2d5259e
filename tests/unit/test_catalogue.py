"""The metric and sensor catalogue (ingestion/catalogue.py): contract names, Martinique facts, units."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from ingestion import catalogue
from ingestion.catalogue import (
    BBOX_LAT,
    BBOX_LON,
    KIND_METRICS,
    KINDS,
    METRICS,
    SENSORS,
    UNIT_ALIASES,
    Commune,
    Metric,
    Sensor,
    load_communes,
    normalise_unit,
)

EXPECTED_METRICS = {
    "temperature": "°C",
    "humidity": "%",
    "pressure": "hPa",
    "wind_speed": "km/h",
    "wind_direction": "°",
    "rain": "mm/h",
    "pm10": "µg/m³",
    "pm25": "µg/m³",
    "no2": "µg/m³",
    "o3": "µg/m³",
    "so2": "µg/m³",
    "co2": "ppm",
    "h2s": "ppm",
    "nh3": "ppm",
    "noise": "dB(A)",
    "traffic_flow": "veh/h",
    "traffic_speed": "km/h",
    "parking_occupancy": "%",
    "light_level": "%",
    "power": "W",
    "battery": "%",
}

MADININAIR_TOWNS = {"Fort-de-France", "Le Lamentin", "Schœlcher", "Le Robert", "Sainte-Luce", "Saint-Pierre",
                    "Le François"}  # fmt: skip
ATLANTIC_COAST = {"Sainte-Anne", "Le Vauclin", "Le François", "Le Robert", "La Trinité", "Sainte-Marie",
                  "Le Marigot", "Le Lorrain", "Basse-Pointe"}  # fmt: skip


def test_kinds_and_metric_ids_are_the_contract():
    assert KINDS == ("air_quality", "weather", "noise", "traffic", "parking", "light", "environment", "sargassum")
    assert {m: d.unit for m, d in METRICS.items()} == EXPECTED_METRICS
    for name, definition in METRICS.items():
        assert isinstance(definition, Metric) and definition.metric == name
        assert definition.label_fr and definition.label_en


def test_metric_field_order_matches_the_metrics_table():
    # validation.Catalogue.from_db builds Metric(*row) from SELECT metric, unit, label_fr, ... crit_high.
    fields = [f for f in Metric.__dataclass_fields__]
    assert fields == ["metric", "unit", "label_fr", "label_en", "valid_min", "valid_max", "warn_low", "warn_high",
                      "crit_low", "crit_high"]  # fmt: skip


def test_thresholds_are_ordered_and_inside_the_valid_range():
    for d in METRICS.values():
        assert d.valid_min < d.valid_max, d.metric
        for threshold in (d.warn_low, d.warn_high, d.crit_low, d.crit_high):
            assert threshold is None or d.valid_min <= threshold <= d.valid_max, d.metric
        if d.warn_high is not None and d.crit_high is not None:
            assert d.warn_high < d.crit_high, d.metric
        if d.warn_low is not None and d.crit_low is not None:
            assert d.crit_low < d.warn_low, d.metric


def test_physical_ranges_and_official_thresholds():
    assert (METRICS["temperature"].valid_min, METRICS["temperature"].valid_max) == (-10, 60)
    assert (METRICS["humidity"].valid_min, METRICS["humidity"].valid_max) == (0, 100)
    assert (METRICS["pressure"].valid_min, METRICS["pressure"].valid_max) == (850, 1100)
    assert (METRICS["co2"].valid_min, METRICS["co2"].valid_max) == (250, 10000)
    assert (METRICS["noise"].valid_min, METRICS["noise"].valid_max) == (20, 140)
    assert (METRICS["traffic_flow"].valid_min, METRICS["traffic_flow"].valid_max) == (0, 20000)
    official = {"pm10": (50, 80), "pm25": (30, 50), "no2": (200, 400), "o3": (180, 240), "so2": (300, 500),
                "h2s": (1, 5), "noise": (65, 70), "co2": (1000, 1500), "temperature": (32, 35),
                "parking_occupancy": (90, 98), "wind_speed": (50, 90), "rain": (30, 50)}  # fmt: skip
    for metric, (warn, crit) in official.items():
        assert (METRICS[metric].warn_high, METRICS[metric].crit_high) == (warn, crit), metric
    assert METRICS["nh3"].crit_high == 8.3
    lows = {"battery": (20, 10), "pressure": (1000, 990), "traffic_speed": (20, 10)}
    for metric, (warn, crit) in lows.items():
        assert (METRICS[metric].warn_low, METRICS[metric].crit_low) == (warn, crit), metric


@pytest.mark.parametrize(
    ("metric", "value", "status"),
    [
        ("pm10", 49.9, "ok"),
        ("pm10", 50.0, "ok"),
        ("pm10", 50.1, "warning"),
        ("pm10", 80.5, "critical"),
        ("h2s", 0.5, "ok"),
        ("h2s", 2.0, "warning"),
        ("h2s", 6.0, "critical"),
        ("nh3", 8.31, "critical"),
        ("battery", 55.0, "ok"),
        ("battery", 15.0, "warning"),
        ("battery", 5.0, "critical"),
        ("pressure", 995.0, "warning"),
        ("pressure", 980.0, "critical"),
        ("traffic_speed", 15.0, "warning"),
        ("traffic_speed", 8.0, "critical"),
        ("noise", 67.0, "warning"),
        ("noise", 72.0, "critical"),
        ("humidity", 99.0, "ok"),
        ("wind_direction", 359.0, "ok"),
    ],
)
def test_status_of(metric, value, status):
    assert METRICS[metric].status_of(value) == status


def test_communes_load_from_the_project_copy():
    communes = load_communes()
    assert len(communes) == 34
    assert all(isinstance(c, Commune) for c in communes.values())
    assert communes["97209"].name == "Fort-de-France" and communes["97209"].population > 70_000
    assert communes["97229"].name == "Schœlcher"  # read as UTF-8
    for c in communes.values():
        assert BBOX_LAT[0] <= c.latitude <= BBOX_LAT[1] and BBOX_LON[0] <= c.longitude <= BBOX_LON[1], c.name
    assert Path(catalogue.__file__).parent / "data" / "communes.csv" == catalogue.COMMUNES_CSV
    shared = Path("/work/shared/martinique/communes.csv")
    if shared.exists():
        assert catalogue.COMMUNES_CSV.read_bytes() == shared.read_bytes()


def test_sensor_catalogue_size_ids_and_places():
    assert len(SENSORS) >= 44
    assert len({s.insee for s in SENSORS}) >= 18
    ids = [s.sensor_id for s in SENSORS]
    assert len(set(ids)) == len(ids)
    communes = load_communes()
    for s in SENSORS:
        assert isinstance(s, Sensor)
        assert re.fullmatch(r"mq-[a-z]{3}-(aq|wx|no|tr|pk|lt|env|sg)-\d{2}", s.sensor_id), s.sensor_id
        assert s.kind in KINDS
        assert s.metrics == KIND_METRICS[s.kind]
        assert all(m in METRICS for m in s.metrics)
        assert s.commune == communes[s.insee].name and s.commune in s.name
        assert BBOX_LAT[0] <= s.latitude <= BBOX_LAT[1], s.sensor_id
        assert BBOX_LON[0] <= s.longitude <= BBOX_LON[1], s.sensor_id
        town = communes[s.insee]
        assert abs(s.latitude - town.latitude) <= 0.01 and abs(s.longitude - town.longitude) <= 0.01, s.sensor_id
        assert s.expected_interval_s >= 1
        assert isinstance(s.tags, tuple)
    assert {s.kind for s in SENSORS} == set(KINDS)


def test_sensors_follow_the_martinique_facts():
    by_kind: dict[str, list[Sensor]] = {}
    for s in SENSORS:
        by_kind.setdefault(s.kind, []).append(s)
    assert {s.commune for s in by_kind["air_quality"]} <= MADININAIR_TOWNS
    assert len({s.commune for s in by_kind["air_quality"]}) >= 6
    assert {s.commune for s in by_kind["sargassum"]} <= ATLANTIC_COAST
    assert {"Le François", "Le Robert"} <= {s.commune for s in by_kind["sargassum"]}
    corridors = {tag for s in by_kind["traffic"] for tag in s.tags}
    assert {"A1", "RN1", "RN5"} <= corridors
    assert any("high_ground" in s.tags and s.commune == "Le Morne-Rouge" for s in by_kind["weather"])
    assert all("indoor" in s.tags for s in by_kind["environment"])
    assert len(by_kind["weather"]) >= 8


def test_catalogue_is_deterministic():
    assert catalogue._build_sensors() == SENSORS


@pytest.mark.parametrize(
    ("metric", "unit", "value", "expected"),
    [
        ("temperature", "F", 212.0, 100.0),
        ("temperature", "°F", 32.0, 0.0),
        ("temperature", "K", 300.15, 27.0),
        ("temperature", "C", 27.5, 27.5),
        ("temperature", "°C", 27.5, 27.5),
        ("temperature", "celsius", 27.5, 27.5),
        ("temperature", None, 27.5, 27.5),
        ("temperature", "", 27.5, 27.5),
        ("humidity", "0-1", 0.78, 78.0),
        ("humidity", "ratio", 0.5, 50.0),
        ("humidity", "fraction", 0.5, 50.0),
        ("humidity", "%", 78.0, 78.0),
        ("pressure", "Pa", 101325.0, 1013.25),
        ("pressure", "kPa", 101.3, 1013.0),
        ("pressure", "hPa", 1013.0, 1013.0),
        ("wind_speed", "m/s", 10.0, 36.0),
        ("wind_speed", "km/h", 36.0, 36.0),
        ("noise", "dB", 61.0, 61.0),
        ("noise", "dBA", 61.0, 61.0),
        ("noise", "DBA", 61.0, 61.0),
        ("pm10", "ug/m3", 40.0, 40.0),
        ("pm25", "µg/m³", 12.0, 12.0),
        ("no2", "ug/m3", 22.0, 22.0),
        ("co2", "ppm", 415.0, 415.0),
        ("h2s", "ppb", 1500.0, 1.5),
        ("nh3", "ppb", 250.0, 0.25),
        ("parking_occupancy", "0-1", 0.9, 90.0),
        ("light_level", "0-1", 0.5, 50.0),
        ("battery", "%", 87.0, 87.0),
    ],
)
def test_normalise_unit(metric, unit, value, expected):
    assert math.isclose(normalise_unit(metric, unit, value), expected, rel_tol=1e-9, abs_tol=1e-9)


def test_unknown_units_are_refused():
    with pytest.raises(ValueError, match="unknown unit"):
        normalise_unit("temperature", "furlongs", 1.0)
    with pytest.raises(ValueError, match="unknown unit"):
        normalise_unit("pm10", "ppb", 1.0)  # an alias of another metric is not an alias of this one
    with pytest.raises(ValueError, match="unknown metric"):
        normalise_unit("radon", None, 1.0)


def test_required_aliases_are_declared():
    required = [("temperature", u) for u in ("F", "°F", "K", "C", "°C", "celsius")]
    required += [("humidity", u) for u in ("0-1", "ratio", "fraction")]
    required += [("pressure", "Pa"), ("pressure", "kPa"), ("wind_speed", "m/s"), ("noise", "dB"), ("noise", "dBA")]
    required += [(m, u) for m in ("pm10", "pm25") for u in ("ug/m3", "µg/m³")]
    required += [("co2", "ppm"), ("h2s", "ppb"), ("nh3", "ppb"), ("parking_occupancy", "0-1"), ("light_level", "0-1")]
    for key in required:
        assert key in UNIT_ALIASES, key
        assert callable(UNIT_ALIASES[key])
