"""The validation stage of the Spark job: the project's own `Validator` applied to Arrow record batches.

`DataFrame.mapInArrow(BatchValidator(catalogue), VALIDATED_DDL)` hands each task an iterator of record batches
of (value binary, received_at timestamp, source string); every message goes through
`ingestion.validation.Validator.parse`, exactly as in the lite processor, and comes out as readings and
rejections. The Spark job therefore gives the lite processor's verdicts and reasons by construction: there is one
copy of the rules, in ingestion/validation.py.

Nothing here imports pyspark: the stage is plain Python + pyarrow, so tests/unit/test_spark_validate.py runs it
without a JVM, and Spark only moves the batches.

Totality: a message must never stop the stage (a failed task would fail the micro-batch, and the next start
would replay the same message and fail again). `parse_safely` turns any exception out of the validator, and a
reading that the rest of the job could not carry (a non-finite value, a time outside 0001..9999), into a
rejection with reason `internal_error` and the exception in its detail; strings that Arrow cannot encode
(lone surrogates) are escaped rather than raised on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import psycopg2
import pyarrow as pa

from ingestion.readings import Reading, Rejection
from ingestion.validation import Catalogue, ParseResult, Validator

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"

# Spark's TimestampType is microseconds since the epoch; the job's session time zone is UTC (job.session).
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# What the stage emits: one row per reading (reason NULL) or per rejection (payload, reason, detail set).
VALIDATED_SCHEMA = pa.schema(
    [
        ("payload", pa.string()),
        ("received_at", _TIMESTAMP),
        ("source", pa.string()),
        ("sensor_id", pa.string()),
        ("metric", pa.string()),
        ("sent_at", pa.float64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("value", pa.float64()),
        ("status", pa.string()),
        ("time", _TIMESTAMP),
    ]
)
VALIDATED_DDL = ", ".join(
    f"{f.name} {'timestamp' if f.type == _TIMESTAMP else 'double' if f.type == pa.float64() else 'string'}"
    for f in VALIDATED_SCHEMA
)

# Spark timestamps: 0001-01-01 .. 9999-12-31 (epoch seconds); a time outside would not reach PostgreSQL either.
_MIN_TIME_S, _MAX_TIME_S = -62_135_596_800.0, 253_402_300_799.0


def _finite(value) -> float | None:
    """`value` as a finite float, or None (bool, non-numbers, NaN, infinities, ints beyond a double)."""
    if type(value) is float:  # the common case, first: this runs for every reading
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, float | int):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _check_reading(reading: Reading) -> None:
    """Raise if the job could not carry this reading to the database (a validator bug: it must not happen)."""
    if _finite(reading.value) is None:
        raise ValueError(f"reading value {str(reading.value)[:64]} is not a finite number")
    time = _finite(reading.time)
    if time is None or not _MIN_TIME_S <= time <= _MAX_TIME_S:
        raise ValueError(f"reading time {str(reading.time)[:64]} is outside the timestamp range")


def parse_safely(validator: Validator, payload: bytes | None, received_at: float | None) -> ParseResult:
    """Validator.parse, made total: an exception becomes an `internal_error` rejection of the whole message."""
    data = b"" if payload is None else bytes(payload)
    try:
        result = validator.parse(data, received_at=received_at)
        for reading in result.readings:
            _check_reading(reading)
        return result
    except Exception as exc:  # noqa: BLE001 - the last resort: one message must never stop the stream
        log.warning(
            "validator raised %s on a %d-byte message: quarantined as %s", type(exc).__name__, len(data), INTERNAL_ERROR
        )
        detail = f"{type(exc).__name__}: {exc}"[:500]
        text = data.decode("utf-8", errors="backslashreplace")
        return ParseResult([], [Rejection(INTERNAL_ERROR, detail, text, validator.source, received_at)])


def _strings(values: list[str | None]) -> pa.Array:
    """A string array; text Arrow cannot encode as UTF-8 (lone surrogates from JSON escapes) is escaped."""
    try:
        return pa.array(values, type=pa.string())
    except (UnicodeError, pa.ArrowException):
        return pa.array(
            [v if v is None else v.encode("utf-8", "backslashreplace").decode("utf-8") for v in values],
            type=pa.string(),
        )


def validate_batch(validator: Validator, batch: pa.RecordBatch) -> pa.RecordBatch:
    """One input record batch (value, received_at, source) -> its readings and rejections (VALIDATED_SCHEMA)."""
    values = batch.column("value").to_pylist()
    received_us = batch.column("received_at").cast(pa.int64()).to_pylist()
    sources = batch.column("source").to_pylist()
    payload, received, source, sensor, metric, sent, reason, detail, value, status, time_us = ([] for _ in range(11))
    for data, rec_us, src in zip(values, received_us, sources, strict=True):
        result = parse_safely(validator, data, None if rec_us is None else rec_us / 1e6)
        for r in result.readings:
            payload.append(None)
            received.append(rec_us)
            source.append(src)
            sensor.append(r.sensor_id)
            metric.append(r.metric)
            # a timing only (pipeline_kpi), never data: anything but a finite number is dropped
            sent.append(None if r.sent_at is None else _finite(r.sent_at))
            reason.append(None)
            detail.append(None)
            value.append(float(r.value))  # checked finite by parse_safely
            status.append(r.status)
            # round half to even on t * 1e6, as ingestion.readings.frame_from_readings does for the lite writer
            time_us.append(round(float(r.time) * 1e6))
        for j in result.rejections:
            payload.append(j.payload)
            received.append(rec_us)
            source.append(src)
            sensor.append(None)
            metric.append(None)
            sent.append(None)
            reason.append(j.reason)
            detail.append(j.detail)
            value.append(None)
            status.append(None)
            time_us.append(None)
    columns = [
        _strings(payload),
        pa.array(received, type=pa.int64()).cast(_TIMESTAMP),
        _strings(source),
        _strings(sensor),
        _strings(metric),
        pa.array(sent, type=pa.float64()),
        _strings(reason),
        _strings(detail),
        pa.array(value, type=pa.float64()),
        _strings(status),
        pa.array(time_us, type=pa.int64()).cast(_TIMESTAMP),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=VALIDATED_SCHEMA)


class BatchValidator:
    """The mapInArrow function: picklable (it holds a Catalogue and, optionally, a database URL), it builds one
    Validator per task (per partition of a micro-batch) and validates that task's record batches with it.

    With `dsn`, each task validates with the catalogue the database has at that moment (`Catalogue.from_db`, one
    short connection per task), as the lite consumer does: a sensor an operator adds or deactivates counts from
    the next micro-batch on, without a restart. When the database does not answer, the task uses `catalogue`
    (the one read when the query started) rather than fail."""

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        dsn: str | None = None,
        source: str = "spark",
        clock: Callable | None = None,
    ):
        self.catalogue = catalogue or Catalogue.default()
        self.dsn = dsn
        self.source = source
        self.clock = clock

    def current_catalogue(self) -> Catalogue:
        if self.dsn is None:
            return self.catalogue
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name="madinina-spark-validate")
            try:
                return Catalogue.from_db(conn)
            finally:
                conn.close()
        except psycopg2.Error as exc:
            log.warning("catalogue not readable (%s): validating with the one read at query start", exc)
            return self.catalogue

    def validator(self) -> Validator:
        kwargs = {"clock": self.clock} if self.clock is not None else {}
        return Validator(self.current_catalogue(), source=self.source, **kwargs)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        validator = self.validator()
        for batch in batches:
            yield validate_batch(validator, batch)
