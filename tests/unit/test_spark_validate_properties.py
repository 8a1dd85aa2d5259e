"""Property-based: the Spark job's validation stage (ingestion/spark/validate.py) never raises, whatever the bytes,
and says what Validator.parse says (or internal_error where the validator itself raises). No Spark needed."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from ingestion.catalogue import METRICS, SENSORS
from ingestion.spark.validate import INTERNAL_ERROR, VALIDATED_SCHEMA, validate_batch
from ingestion.validation import Validator

hypothesis = pytest.importorskip("hypothesis")  # pinned in requirements-dev.txt with the validator's property tests
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NOW = 1_795_000_000.0

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["2026-11-18T09:00:00Z", "22.5", " 1e3 ", "NaN", "°F", "0-1", "FAULT", ""])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
keys = st.sampled_from(
    ["timestamp", "time", "ts", "dateObserved", "sensor_id", "device_id", "metric", "type", "value", "unit",
     "status", "sent_at", "id", "@context", *METRICS, "relativeHumidity", "windSpeed"]
)  # fmt: skip
messages = st.dictionaries(keys, values | st.sampled_from([s.sensor_id for s in SENSORS[:5]]), max_size=8)


def encoded(message: dict) -> bytes:
    try:
        return json.dumps(message, allow_nan=True).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return repr(message).encode("utf-8", "surrogatepass")


payloads = st.binary(max_size=200) | messages.map(encoded)


def record_batch(items: list[bytes]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array(items, type=pa.binary()),
            pa.array([round(NOW * 1e6)] * len(items), type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(["t"] * len(items), type=pa.string()),
        ],
        names=["value", "received_at", "source"],
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=6))
def test_never_raises_and_says_what_the_validator_says(items):
    out = validate_batch(Validator(), record_batch(items))
    assert out.schema == VALIDATED_SCHEMA
    expected_readings = expected_reasons = 0
    validator = Validator()
    for item in items:
        try:
            result = validator.parse(item, received_at=NOW)
        except Exception:  # noqa: BLE001 - the stage must turn this into one internal_error rejection
            expected_reasons += 1
            continue
        expected_readings += len(result.readings)
        expected_reasons += len(result.rejections)
    rows = out.to_pylist()
    assert sum(r["reason"] is None for r in rows) == expected_readings
    assert sum(r["reason"] is not None for r in rows) == expected_reasons
    assert expected_readings + expected_reasons >= len(items)  # every message is stored or quarantined
    for row in rows:
        for text in (row["payload"], row["detail"]):
            if text is not None:
                text.encode("utf-8")  # Arrow, then PostgreSQL, can carry it
        if row["reason"] is None:
            assert row["time"] is not None and row["value"] is not None
        else:
            assert row["reason"] == INTERNAL_ERROR or row["payload"] is not None
