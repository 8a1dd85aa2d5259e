"""The Spark job's validation stage without Spark: ingestion/spark/validate.py on Arrow record batches (what
mapInArrow hands each task), compared with Validator.parse called directly, and its last-resort guards."""

from __future__ import annotations

import json
import pickle

import pyarrow as pa
import pytest

from ingestion.catalogue import SENSORS
from ingestion.readings import Reading
from ingestion.spark.validate import (
    INTERNAL_ERROR,
    VALIDATED_DDL,
    VALIDATED_SCHEMA,
    BatchValidator,
    parse_safely,
    validate_batch,
)
from ingestion.validation import Catalogue, ParseResult, Validator

NOW = 1_795_000_000.0
SID = next(s.sensor_id for s in SENSORS if s.kind == "weather")
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")


def message(**fields) -> bytes:
    return json.dumps(
        {"timestamp": "2026-11-18T09:00:00Z", "sensor_id": SID, "metric": "temperature", **fields}
    ).encode()


def batch(payloads: list[bytes | None], received_at: float = NOW, source: str = "t") -> pa.RecordBatch:
    n = len(payloads)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(payloads, type=pa.binary()),
            pa.array([round(received_at * 1e6)] * n, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array([source] * n, type=pa.string()),
        ],
        names=["value", "received_at", "source"],
    )


def test_the_output_is_what_the_validator_says_message_by_message():
    payloads = [
        message(value=21.5, sent_at=NOW - 2),
        json.dumps(
            {"timestamp": NOW - 60, "sensor_id": ENV, "temperature": 22, "co2": "abc", "humidity": 150}
        ).encode(),
        message(value="warm"),
        b"{not json",
        None,
    ]
    out = validate_batch(Validator(), batch(payloads)).to_pylist()
    validator = Validator()
    expected = []
    for p in payloads:
        result = validator.parse(p or b"", received_at=NOW)
        expected += [
            (r.sensor_id, r.metric, r.value, r.status, round(r.time * 1e6), r.sent_at) for r in result.readings
        ]
        expected += [(r.reason, r.detail, r.payload) for r in result.rejections]
    got = []
    for row in out:
        assert row["source"] == "t" and row["received_at"].timestamp() == NOW
        if row["reason"] is None:
            assert row["payload"] is None and row["detail"] is None
            t_us = round(row["time"].timestamp() * 1e6)
            got.append((row["sensor_id"], row["metric"], row["value"], row["status"], t_us, row["sent_at"]))
        else:
            assert row["value"] is None and row["time"] is None
            got.append((row["reason"], row["detail"], row["payload"]))
    assert sorted(map(repr, got)) == sorted(map(repr, expected))
    assert len(expected) == 7  # 1 + 2 readings, 2 rejected metrics of the record, 1 non-numeric, 2 invalid JSON


def test_the_schema_matches_the_ddl_spark_is_given():
    assert validate_batch(Validator(), batch([message(value=1)])).schema == VALIDATED_SCHEMA
    ddl = dict(part.split(" ") for part in VALIDATED_DDL.split(", "))
    assert ddl == {
        "payload": "string", "received_at": "timestamp", "source": "string", "sensor_id": "string",
        "metric": "string", "sent_at": "double", "reason": "string", "detail": "string", "value": "double",
        "status": "string", "time": "timestamp",
    }  # fmt: skip
    assert validate_batch(Validator(), batch([])).num_rows == 0


class Raising(Validator):
    def parse(self, payload, *, received_at=None):
        if b"boom" in payload:
            raise RuntimeError("boom inside the validator")
        return super().parse(payload, received_at=received_at)


class Returning(Validator):
    """A validator bug of another kind: a reading the database could not hold."""

    def __init__(self, reading: Reading):
        super().__init__()
        self.reading = reading

    def parse(self, payload, *, received_at=None):
        return ParseResult([self.reading], [])


def test_an_exception_in_the_validator_is_an_internal_error_rejection():
    out = validate_batch(Raising(), batch([message(value=20, note="boom\xff"), message(value=21)])).to_pylist()
    rejected = [r for r in out if r["reason"] is not None]
    assert len(out) == 2 and len(rejected) == 1
    assert rejected[0]["reason"] == INTERNAL_ERROR
    assert rejected[0]["detail"] == "RuntimeError: boom inside the validator"
    assert '"note": "boom\\u00ff"' in rejected[0]["payload"]  # the message text, as received
    assert [r["value"] for r in out if r["reason"] is None] == [21.0]


@pytest.mark.parametrize(
    "reading",
    [
        Reading(NOW, SID, "temperature", float("nan"), "ok"),
        Reading(NOW, SID, "temperature", 10**400, "ok"),
        Reading(float("inf"), SID, "temperature", 1.0, "ok"),
        Reading(1e12, SID, "temperature", 1.0, "ok"),  # year 33658: beyond any timestamp type
    ],
)
def test_a_reading_that_cannot_be_carried_is_an_internal_error_rejection(reading):
    (row,) = validate_batch(Returning(reading), batch([b"{}"])).to_pylist()
    assert row["reason"] == INTERNAL_ERROR and row["time"] is None and row["payload"] == "{}"


def test_invalid_bytes_and_lone_surrogates_never_reach_arrow_unencodable():
    # A validator bug that puts a lone surrogate in a rejection: escaped, not raised on.
    class Surrogate(Validator):
        def parse(self, payload, *, received_at=None):
            result = super().parse(payload, received_at=received_at)
            for r in result.rejections:
                r.detail += "\ud800"
            return result

    (row,) = validate_batch(Surrogate(), batch([b"\xff{"])).to_pylist()
    assert row["reason"] is not None and row["detail"].endswith("\\ud800")
    row["detail"].encode("utf-8")


def test_an_implausible_sent_at_is_dropped_not_carried():
    for sent_at in (10**400, float("nan"), True):
        (row,) = validate_batch(
            Returning(Reading(NOW, SID, "temperature", 1.0, "ok", sent_at)), batch([b"x"])
        ).to_pylist()
        assert row["reason"] is None and row["sent_at"] is None, sent_at


def test_parse_safely_gives_the_validator_result_when_it_does_not_raise():
    validator = Validator()
    payload = message(value=25)
    assert parse_safely(validator, payload, NOW) == validator.parse(payload, received_at=NOW)


def test_the_map_function_pickles_and_builds_one_validator_per_task(monkeypatch):
    built = []
    original = BatchValidator.validator

    def counting(self):
        built.append(1)
        return original(self)

    monkeypatch.setattr(BatchValidator, "validator", counting)
    function = pickle.loads(pickle.dumps(BatchValidator(Catalogue.default())))
    batches = [batch([message(value=v)]) for v in (20, 21, 22)]
    out = list(function(iter(batches)))
    assert [b.num_rows for b in out] == [1, 1, 1] and len(built) == 1


def test_without_an_answering_database_a_task_validates_with_the_catalogue_of_the_query_start():
    # Port 1 on the loopback refuses at once: the task falls back instead of failing the micro-batch.
    function = BatchValidator(Catalogue.default(), dsn="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert function.current_catalogue() is function.catalogue
    (out,) = list(function(iter([batch([message(value=20)])])))
    assert out.to_pylist()[0]["reason"] is None
