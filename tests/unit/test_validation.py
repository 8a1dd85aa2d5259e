"""Validation rules without a database."""

import json

import pytest

from ingestion.catalogue import SENSORS
from ingestion.validation import REASONS, Validator, parse_time

NOW = 1_795_000_000.0
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")


def parse(message):
    payload = message if isinstance(message, str) else json.dumps(message)
    return Validator(source="t").parse(payload, received_at=NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22T10:00:00Z", 1795341600.0),
        ("2026-11-22T06:00:00-04:00", 1795341600.0),
        ("2026-11-22T10:00:00", 1795341600.0),  # naive = UTC
        (1795341600, 1795341600.0),
        (1795341600000, 1795341600.0),  # milliseconds
    ],
)
def test_time_formats(raw, expected):
    assert parse_time(raw) == expected


def test_unit_aliases_are_converted():
    single = parse({"ts": NOW, "sensor_id": WX, "metric": "temperature", "value": 86, "unit": "°F"})
    assert single.readings[0].value == pytest.approx(30.0)
    wind = parse({"ts": NOW, "sensor_id": WX, "metric": "wind_speed", "value": 10, "unit": "m/s"})
    assert wind.readings[0].value == pytest.approx(36.0)
    unknown = parse({"ts": NOW, "sensor_id": WX, "metric": "temperature", "value": 20, "unit": "furlongs"})
    assert unknown.rejections[0].reason == "unknown_unit"


def test_ngsi_ld_entity():
    entity = {
        "id": f"urn:ngsi-ld:WeatherObserved:{WX}",
        "type": "WeatherObserved",
        "dateObserved": {"type": "Property", "value": "2026-11-22T10:00:00Z"},
        "temperature": {"type": "Property", "value": 27.5},
        "relativeHumidity": {"type": "Property", "value": 0.78},
        "windSpeed": {"type": "Property", "value": 5},
    }
    result = Validator(source="t").parse(json.dumps(entity), received_at=1795341600.0)
    values = {r.metric: r.value for r in result.readings}
    assert values == {"temperature": 27.5, "humidity": pytest.approx(78.0), "wind_speed": pytest.approx(18.0)}
    assert not result.rejections


def test_status_follows_thresholds_and_device_fault():
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": 60}).readings[0].status == "warning"
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": 90}).readings[0].status == "critical"
    fault = parse({"ts": NOW, "sensor_id": AQ, "pm10": 20, "status": "FAULT"})
    assert fault.readings[0].status == "fault"


def test_extra_fields_do_not_reject_and_bools_are_not_numbers():
    ok = parse({"ts": NOW, "device_id": AQ, "type": "pm10", "value": "12.5", "building": "A", "floor": 2})
    assert ok.readings[0].value == 12.5
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": True}).rejections[0].reason == (
        "non_numeric_value"
    )


def test_not_an_object_and_reasons_are_known():
    assert parse("[1, 2, 3]").rejections[0].reason == "not_an_object"
    for message in ("{", "[]", json.dumps({"sensor_id": AQ})):
        assert all(r.reason in REASONS for r in parse(message).rejections)
