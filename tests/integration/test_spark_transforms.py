"""The Spark transforms give the verdict of ingestion/validation.py, message by message: the same readings
(metric, value, status, time) and the same rejection reasons. Real Spark local[2] on a static DataFrame (the
transforms are pure DataFrame -> DataFrame functions, the same on a batch as on a stream)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from ingestion.catalogue import SENSORS
from ingestion.validation import MAX_PAYLOAD_BYTES, Validator
from tests.integration.test_spark_job import _java_available
from tests.support.services import require

pytestmark = pytest.mark.spark

NOW = 1_795_000_000.0  # 2026-11-18T09:46:40Z
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")
T = "2026-11-18T09:00:00Z"


def j(obj) -> str:
    return json.dumps(obj)


MESSAGES = [
    # accepted: the three shapes, numeric strings, units, epoch seconds / ms, naive and offset times
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 27.5, "unit": "C"}),
    j({"timestamp": T, "device_id": WX, "type": "temperature", "value": "86", "unit": "°F"}),
    j({"ts": NOW - 60, "sensor_id": WX, "metric": "wind_speed", "value": 10, "unit": "m/s"}),
    j({"time": (NOW - 120) * 1000, "sensor_id": WX, "metric": "humidity", "value": 0.8, "unit": "0-1"}),
    j({"timestamp": "2026-11-18T05:00:00-04:00", "sensor_id": AQ, "metric": "pm10", "value": 60}),
    j({"timestamp": "2026-11-18T09:00:00", "sensor_id": AQ, "metric": "pm10", "value": 90, "building": "B"}),
    j(
        {
            "timestamp": T,
            "sensor_id": ENV,
            "temperature": 27.1,
            "humidity": 78,
            "co2": 415,
            "pressure": 1013.2,
            "battery": 87,
            "status": "WARNING",
        }
    ),
    j({"timestamp": T, "sensor_id": ENV, "temperature": 22, "co2": "abc", "humidity": 150, "status": "FAULT"}),
    j(
        {
            "id": f"urn:ngsi-ld:WeatherObserved:{WX}",
            "type": "WeatherObserved",
            "dateObserved": {"type": "Property", "value": T},
            "temperature": {"type": "Property", "value": 27.5},
            "relativeHumidity": {"type": "Property", "value": 0.78},
        }
    ),
    j({"timestamp": T, "sensor_id": f"  {WX} ", "metric": "pressure", "value": " 1013.25 "}),
    # times in and around the canonical form the producers send (the transforms' fast path)
    j({"timestamp": "2026-11-18T09:00:00.5Z", "sensor_id": WX, "metric": "temperature", "value": 21}),
    j({"timestamp": "2026-11-18T09:00:00.123456+00:00", "sensor_id": WX, "metric": "temperature", "value": 22}),
    j({"timestamp": "2026-11-18T09:00:00.1234567Z", "sensor_id": WX, "metric": "temperature", "value": 23}),
    j({"timestamp": " 2026-11-18T09:00:01.000Z\t", "sensor_id": WX, "metric": "temperature", "value": 24}),
    j({"timestamp": "2024-02-29T09:00:00Z", "sensor_id": WX, "metric": "temperature", "value": 25}),
    j({"timestamp": "2026-02-29T09:00:00Z", "sensor_id": WX, "metric": "temperature", "value": 26}),
    j({"timestamp": "2026-11-18T24:00:00Z", "sensor_id": WX, "metric": "temperature", "value": 27}),
    j({"timestamp": "2026-11-18T09:00:60.000Z", "sensor_id": WX, "metric": "temperature", "value": 28}),
    # rejected whole
    "{not json",
    "[1, 2, 3]",
    '"just a string"',
    j({"timestamp": T, "metric": "temperature", "value": 20}),
    j({"sensor_id": WX, "metric": "temperature", "value": 20}),
    j({"timestamp": T, "sensor_id": "nobody-01", "metric": "temperature", "value": 20}),
    j({"timestamp": "yesterday", "sensor_id": WX, "metric": "temperature", "value": 20}),
    j({"timestamp": True, "sensor_id": WX, "metric": "temperature", "value": 20}),
    j({"timestamp": NOW + 3600, "sensor_id": WX, "metric": "temperature", "value": 20}),
    j({"timestamp": -5, "sensor_id": WX, "metric": "temperature", "value": 20}),
    j({"timestamp": T, "sensor_id": WX, "value": 20}),
    j({"timestamp": T, "sensor_id": WX, "building": "B"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 20, "pad": "x" * MAX_PAYLOAD_BYTES}),
    j({"id": f"urn:ngsi-ld:WeatherObserved:{WX}", "type": "WeatherObserved", "temperature": 20}),
    # rejected per reading
    j({"timestamp": T, "sensor_id": WX, "metric": "radiation", "value": 1}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": "warm"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": None}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": True}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": float("nan")}),  # NaN token
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": "inf"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 20, "unit": "furlongs"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 99}),
    j({"timestamp": T, "sensor_id": WX, "metric": "humidity", "value": -1}),
]


def python_verdicts() -> dict[str, tuple[list, list]]:
    validator = Validator(source="t")
    out = {}
    for message in MESSAGES:
        result = validator.parse(message, received_at=NOW)
        readings = sorted((r.metric, r.value, r.status, round(r.time * 1e6)) for r in result.readings)
        out[message] = (readings, sorted(r.reason for r in result.rejections))
    return out


def spark_verdicts(spark) -> dict[str, tuple[list, list]]:
    from pyspark.sql import functions as F

    from ingestion.spark.schema import SOURCE_SCHEMA
    from ingestion.spark.transforms import catalogue_frames, classify_messages, normalise, parse_messages, validate
    from ingestion.validation import Catalogue

    received = datetime.fromtimestamp(NOW, UTC)
    source = spark.createDataFrame([(m, len(m.encode()), received, "t") for m in MESSAGES], SOURCE_SCHEMA).withColumn(
        "payload_bytes", F.octet_length("value")
    )
    catalogue = Catalogue.default()
    frames = catalogue_frames(spark, catalogue)
    rows = validate(normalise(classify_messages(parse_messages(source, catalogue), catalogue, frames)), frames)
    out: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    selected = rows.select("payload", "metric", "reason", "value", "status", F.unix_micros("time").alias("t_us"))
    for row in selected.collect():
        readings, reasons = out[row.payload]
        if row.reason is None:
            readings.append((row.metric, row.value, row.status, row.t_us))
        else:
            reasons.append(row.reason)
    return {k: (sorted(v[0]), sorted(v[1])) for k, v in out.items()}


def test_spark_transforms_give_the_verdicts_of_the_python_validator():
    require(_java_available(), "Java 17 (Debian package openjdk-17-jre-headless)")
    from ingestion.spark.job import local_session

    expected, got = python_verdicts(), spark_verdicts(local_session(2))
    assert set(got) == set(expected)
    reasons = set()
    for message, (readings, rejected) in expected.items():
        s_readings, s_rejected = got[message]
        assert s_rejected == rejected, (message[:120], s_rejected, rejected)
        assert len(s_readings) == len(readings), message[:120]
        for (m1, v1, st1, t1), (m2, v2, st2, t2) in zip(s_readings, readings, strict=True):
            assert (m1, st1, t1) == (m2, st2, t2) and math.isclose(v1, v2, rel_tol=1e-12), message[:120]
        reasons.update(rejected)
    # Every reason of the contract is exercised by this list.
    from ingestion.validation import REASONS

    assert reasons == set(REASONS)
