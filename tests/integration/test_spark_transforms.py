"""The Spark job's validation stage gives exactly the output of ingestion/validation.py: every message below goes
through Spark local[2] (transforms.validated_rows, mapInArrow) and, independently, through Validator.parse in
this process; the two outputs must be the same rows — readings (sensor, metric, value, status, time, sent_at)
and rejections (reason, detail, payload), each with its received_at and source. The messages cover every reason
of validation.REASONS, the three shapes, units and time forms, and hostile input (huge numbers, NUL bytes,
invalid UTF-8, lone surrogates, deep nesting, duplicate keys, 1 MiB). When tests/data/poison_corpus.py exists
(the validator's hostile corpus), its payloads are added too."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from ingestion.catalogue import METRICS, SENSORS
from ingestion.validation import MAX_FUTURE_S, MAX_PAYLOAD_BYTES, REASONS, Catalogue, Validator
from tests.integration.test_spark_job import _java_available
from tests.support.services import require

pytestmark = pytest.mark.spark

NOW = 1_795_000_000.0  # 2026-11-18T09:46:40Z
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")
T = "2026-11-18T09:00:00Z"
INTERNAL_ERROR = "internal_error"  # what the stage must give where the validator itself raises


def j(obj) -> bytes:
    return json.dumps(obj).encode()


def temp(**fields) -> dict:
    return {"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 20, **fields}


NGSI_ID = f"urn:ngsi-ld:WeatherObserved:{WX}"

MESSAGES: list[bytes | None] = [
    # accepted: the three shapes, numeric strings, units, epoch seconds / ms, naive and offset times
    j(temp(value=27.5, unit="C")),
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
            "sent_at": NOW - 1,
        }
    ),
    j({"timestamp": T, "sensor_id": ENV, "temperature": 22, "co2": "abc", "humidity": 150, "status": "FAULT"}),
    j(
        {
            "id": NGSI_ID,
            "type": "WeatherObserved",
            "dateObserved": {"type": "Property", "value": T},
            "temperature": {"type": "Property", "value": 27.5},
            "relativeHumidity": {"type": "Property", "value": 0.78},
        }
    ),
    j(
        {
            "@context": "x",
            "id": NGSI_ID,
            "type": "WeatherObserved",
            "dateObserved": T,
            "temperature": {"type": "Property", "value": "hot"},
            "windSpeed": {"type": "Property", "value": 3},
        }
    ),
    j({"timestamp": T, "sensor_id": f"  {WX} ", "metric": "pressure", "value": " 1013.25 "}),
    j(temp(value=35, status="error")),
    j(temp(value=1e-300)),
    j(temp(value=False)),  # JSON false: not a number
    # times
    j(temp(timestamp="2026-11-18T09:00:00.5Z", value=21)),
    j(temp(timestamp="2026-11-18T09:00:00.123456+00:00", value=22)),
    j(temp(timestamp="2026-11-18T09:00:00.1234567Z", value=23)),
    j(temp(timestamp=" 2026-11-18T09:00:01.000Z\t", value=24)),
    j(temp(timestamp="2024-02-29T09:00:00Z", value=25)),
    j(temp(timestamp="2026-02-29T09:00:00Z", value=26)),
    j(temp(timestamp="2026-11-18T24:00:00Z", value=27)),
    j(temp(timestamp=NOW + MAX_FUTURE_S - 1)),
    j(temp(timestamp=NOW + MAX_FUTURE_S + 1)),
    j(temp(timestamp=1_795_000_000_123)),  # epoch milliseconds
    j(temp(timestamp=0.5)),
    # rejected whole
    b"{not json",
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b"42",
    b"",
    None,  # a source row without a value (a Kafka tombstone)
    j({"timestamp": T, "metric": "temperature", "value": 20}),
    j({"sensor_id": WX, "metric": "temperature", "value": 20}),
    j(temp(sensor_id="nobody-01")),
    j(temp(timestamp="yesterday")),
    j(temp(timestamp=True)),
    j(temp(timestamp=NOW + 3600)),
    j(temp(timestamp=-5)),
    j({"timestamp": T, "sensor_id": WX, "value": 20}),
    j({"timestamp": T, "sensor_id": WX, "building": "B"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature"}),
    j(temp(pad="x" * MAX_PAYLOAD_BYTES)),
    j({"id": NGSI_ID, "type": "WeatherObserved", "temperature": 20}),
    j({"id": NGSI_ID, "type": "WeatherObserved", "dateObserved": T, "temperature": 20}),
    j({"id": "urn:ngsi-ld:WeatherObserved:", "type": "WeatherObserved", "dateObserved": T}),
    # rejected per reading
    j(temp(metric="radiation", value=1)),
    j(temp(value="warm")),
    j(temp(value=None)),
    j(temp(value=True)),
    j(temp(value=float("nan"))),  # NaN token
    j(temp(value="inf")),
    j(temp(unit="furlongs")),
    j(temp(value=99)),
    j(temp(metric="humidity", value=-1)),
    # hostile (DESIGN §3: stored or quarantined, never a crash)
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1%s}'
    % (T.encode(), WX.encode(), b"0" * 400),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1%s}'
    % (T.encode(), WX.encode(), b"0" * 5000),
    j(temp(sent_at=10**400)),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1e400}' % (T.encode(), WX.encode()),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": -1e400}' % (T.encode(), WX.encode()),
    b'{"timestamp": 1e400, "sensor_id": "%s", "metric": "temperature", "value": 20}' % WX.encode(),
    j(temp(note="\x00" * 2000)),
    b'{"timestamp": "%s", "sensor_id": "%s\x00", "metric": "temperature", "value": 20}' % (T.encode(), WX.encode()),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 20, "x": "\xff\xfe"}'
    % (T.encode(), WX.encode()),
    b"\xff\xfe\xfd",
    b'{"timestamp": "%s", "sensor_id": "\\ud800", "metric": "temperature", "value": 20}' % T.encode(),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "\\udfff", "value": 20}' % (T.encode(), WX.encode()),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 20, "value": 21}'
    % (T.encode(), WX.encode()),
    j(temp(pad="y" * (1 << 20))),
    j(temp(sensor_id=[WX])),
    j(temp(sensor_id={"id": WX})),
    j(temp(sensor_id=12)),
    j(temp(metric=["temperature"])),
    j(temp(unit=["C"])),
    j(temp(unit={"u": "C"})),
    j(temp(status=["FAULT"])),
    j(temp(timestamp={"value": T})),
    j(temp(timestamp=[T])),
    j(temp(value=[20])),
    j(temp(value={"value": 20})),
    j(temp(sent_at="yesterday")),
    j({"timestamp": T, "sensor_id": ENV, "temperature": [1], "humidity": {"v": 1}, "co2": 415}),
]


def poison_corpus() -> list[bytes]:
    """The validator's own hostile corpus (tests/data/poison_corpus.py), where it exists on this branch."""
    try:
        from tests.data.poison_corpus import CORPUS
    except ImportError:
        return []
    return [payload for _, payload, _ in CORPUS]


def inputs() -> list[tuple[bytes | None, float, str]]:
    """(payload, received_at, source) rows: every message at NOW, a few again at other instants and sources."""
    rows = [(m, NOW, "t") for m in MESSAGES + poison_corpus()]
    rows += [(j(temp(timestamp=NOW + 3600)), NOW + 3600, "later"), (j(temp(value=21)), NOW - 1e6, "earlier")]
    return rows


def expected_rows(rows, catalogue: Catalogue) -> list[tuple]:
    """What the Python validator says, row by row, in the stage's columns (time in microseconds, rounded half to
    even as the lite writer does). Where Validator.parse raises, the stage must quarantine the message as
    internal_error (detail and payload are then the stage's own wording: only the reason is compared)."""
    validator = Validator(catalogue, source="t")
    out = []
    for payload, received_at, source in rows:
        try:
            result = validator.parse(b"" if payload is None else payload, received_at=received_at)
        except Exception:  # noqa: BLE001 - the point: this message must not stop the Spark stage
            out.append(("rejection", received_at, source, INTERNAL_ERROR, None, None))
            continue
        for r in result.readings:
            sent_at = r.sent_at if isinstance(r.sent_at, float) else None  # a timing: finite floats only
            out.append(("reading", received_at, source, r.sensor_id, r.metric, r.value, r.status,
                        round(float(r.time) * 1e6), sent_at))  # fmt: skip
        for r in result.rejections:
            if r.reason == INTERNAL_ERROR:  # the validator's own last resort: worded by it
                out.append(("rejection", received_at, source, r.reason, None, None))
            else:
                out.append(("rejection", received_at, source, r.reason, r.detail, r.payload))
    return out


def spark_rows(spark, rows, catalogue: Catalogue) -> list[tuple]:
    from pyspark.sql import functions as F

    from ingestion.spark.transforms import validated_rows

    frame = spark.createDataFrame(
        [(None if p is None else bytearray(p), datetime.fromtimestamp(r, UTC), s) for p, r, s in rows],
        "value binary, received_at timestamp, source string",
    )
    validated = validated_rows(frame, catalogue).withColumns(
        {"t_us": F.unix_micros("time"), "r_us": F.unix_micros("received_at")}
    )
    out = []
    for row in validated.collect():
        received_at = row.r_us / 1e6
        if row.reason is None:
            out.append(("reading", received_at, row.source, row.sensor_id, row.metric, row.value, row.status,
                        row.t_us, row.sent_at))  # fmt: skip
        elif row.reason == INTERNAL_ERROR:
            out.append(("rejection", received_at, row.source, row.reason, None, None))
        else:
            out.append(("rejection", received_at, row.source, row.reason, row.detail, row.payload))
    return out


def assert_same(got: list[tuple], expected: list[tuple]) -> None:
    got_c, expected_c = Counter(map(repr, got)), Counter(map(repr, expected))
    missing, extra = expected_c - got_c, got_c - expected_c
    assert not missing and not extra, (
        f"{sum(missing.values())} rows of the Python validator not in Spark's output, {sum(extra.values())} extra;"
        f" first missing: {[m[:300] for m in list(missing)[:3]]}; first extra: {[m[:300] for m in list(extra)[:3]]}"
    )


@pytest.fixture(scope="module")
def spark():
    require(_java_available(), "Java 17 (Debian package openjdk-17-jre-headless)")
    from ingestion.spark.job import local_session

    return local_session(2)


def test_spark_validation_gives_the_output_of_the_python_validator(spark):
    rows = inputs()
    catalogue = Catalogue.default()
    expected = expected_rows(rows, catalogue)
    assert_same(spark_rows(spark, rows, catalogue), expected)
    # The list exercises every reason the validator gives (internal_error marks a validator bug, write_failed is
    # the service's when the database refuses a message: neither can come from a well-formed test input).
    reasons = {r[3] for r in expected if r[0] == "rejection"}
    validation_reasons = set(REASONS) - {INTERNAL_ERROR, "write_failed"}
    assert validation_reasons <= reasons, validation_reasons - reasons
    assert sum(r[0] == "reading" for r in expected) >= 30


def test_a_validator_that_raises_quarantines_the_message_and_the_stage_goes_on(spark):
    """A catalogue whose temperature has no valid_min makes Validator.parse raise (TypeError) on every
    temperature reading: those messages come out as internal_error rejections with the exception in the
    detail, the others as usual, and the Spark stage does not fail."""
    metrics = dict(METRICS)
    metrics["temperature"] = dataclasses.replace(METRICS["temperature"], valid_min=None)
    broken = Catalogue(metrics, Catalogue.default().sensor_ids)
    rows = [(j(temp(value=v)), NOW, "t") for v in (20, 21)] + [(j(temp(metric="pressure", value=1000)), NOW, "t")]
    got = spark_rows(spark, rows, broken)
    assert_same(got, expected_rows(rows, broken))
    assert sorted(r[3] for r in got) == [INTERNAL_ERROR, INTERNAL_ERROR, WX]
