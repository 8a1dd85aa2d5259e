"""Every rejection reason of DESIGN.md §3 lands in quarantine with its reason and payload; the durable ledger
row of the batch counts what was sent."""

import json
import time

import pytest

from ingestion.processor import LiteProcessor
from ingestion.validation import Validator
from ingestion.writer import Writer

NOW = time.time()
ISO_NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 10))
SENSOR = "mq-fdf-aq-01"


def good(**overrides):
    message = {"timestamp": ISO_NOW, "sensor_id": SENSOR, "metric": "pm10", "value": 22.5, "unit": "µg/m³"}
    message.update(overrides)
    return json.dumps(message)


CASES = {
    "invalid_json": '{"timestamp": "2026-11-22T10:00:00Z", "sensor_id": ',
    "missing_time": json.dumps({"sensor_id": SENSOR, "metric": "pm10", "value": 1}),
    "missing_sensor": json.dumps({"timestamp": ISO_NOW, "metric": "pm10", "value": 1}),
    "missing_value": json.dumps({"timestamp": ISO_NOW, "sensor_id": SENSOR, "metric": "pm10"}),
    "nan": good(value=1234.5).replace("1234.5", "NaN"),
    "infinity": good(value=1234.5).replace("1234.5", "Infinity"),
    "non_numeric": good(value="beaucoup"),
    "out_of_range": good(value=-5),
    "future": good(timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 3600))),
    "unknown_metric": good(metric="radioactivity"),
    "too_large": good(padding="x" * 70_000),
    "unknown_sensor": good(sensor_id="mq-nowhere-99"),
    "bad_time": good(timestamp="hier vers midi"),
}
EXPECTED_REASON = {
    "invalid_json": "invalid_json",
    "missing_time": "missing_field",
    "missing_sensor": "missing_field",
    "missing_value": "missing_field",
    "nan": "non_finite_value",
    "infinity": "non_finite_value",
    "non_numeric": "non_numeric_value",
    "out_of_range": "out_of_range",
    "future": "future_timestamp",
    "unknown_metric": "unknown_metric",
    "too_large": "payload_too_large",
    "unknown_sensor": "unknown_sensor",
    "bad_time": "invalid_timestamp",
}


def ledger(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT received, stored, duplicates, quarantined, by_reason FROM ingest_ledger ORDER BY batch_id")
        return cur.fetchall()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rejection_lands_in_quarantine_with_its_reason(case, db_url, conn):
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="test"))
        processor.submit(CASES[case], received_at=NOW)
        processor.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT reason, source, payload, detail FROM quarantine")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM sensor_data")
        assert cur.fetchone()[0] == 0
    assert len(rows) == 1
    reason, source, payload, detail = rows[0]
    assert reason == EXPECTED_REASON[case]
    assert source == "test"
    assert detail
    assert payload == CASES[case][: len(payload)] or payload.endswith("chars]")
    assert ledger(conn) == [(1, 0, 0, 1, {EXPECTED_REASON[case]: 1})]  # one message sent, one rejection


def test_valid_shapes_are_stored(db_url, conn):
    single = good()
    device = json.dumps(
        {
            "timestamp": ISO_NOW,
            "device_id": "mq-fdf-env-01",
            "type": "temperature",
            "value": 77.0,
            "unit": "°F",
            "building": "A",
            "floor": 2,
        }
    )
    multi = json.dumps(
        {
            "ts": NOW - 20,
            "sensor_id": "mq-fdf-env-01",
            "temperature": 27.1,
            "humidity": 78,
            "co2": 415,
            "pressure": 1013.2,
            "battery": 87,
            "status": "OK",
        }
    )
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="test"))
        for message in (single, device, multi):
            processor.submit(message, received_at=NOW)
        processor.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, value FROM sensor_data ORDER BY time, metric")
        rows = cur.fetchall()
    assert (SENSOR, "pm10", 22.5) in rows
    assert ("mq-fdf-env-01", "temperature", pytest.approx(25.0)) in [(a, b, pytest.approx(c)) for a, b, c in rows]
    assert {r[1] for r in rows if r[0] == "mq-fdf-env-01"} >= {"temperature", "humidity", "co2", "pressure", "battery"}
    # The multi record (NOW-20) carries a temperature older than the device reading (NOW) of the same sensor:
    # stored, and counted as late (late is a subset of stored, not a loss).
    # Three messages sent, holding 1 + 1 + 5 readings.
    assert ledger(conn) == [(3, 7, 0, 0, {})]
    assert processor.totals.late == 1


def test_a_multi_metric_record_keeps_valid_values_and_quarantines_the_bad_one(db_url, conn):
    record = json.dumps(
        {"timestamp": ISO_NOW, "sensor_id": "mq-fdf-env-01", "temperature": 26.0, "humidity": 250, "co2": 500}
    )
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="test"))
        processor.submit(record, received_at=NOW)
        processor.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT metric FROM sensor_data ORDER BY metric")
        assert [r[0] for r in cur.fetchall()] == ["co2", "temperature"]
        cur.execute("SELECT reason, detail FROM quarantine")
        reason, detail = cur.fetchone()
    assert reason == "out_of_range" and "humidity" in detail
    assert ledger(conn) == [(1, 2, 0, 1, {"out_of_range": 1})]
