"""Explicit schemas of the Spark job: the message contract (DESIGN.md §3) and what flows to the sinks.

The message contract is parsed with `from_json` and the StructType below, never with schema inference. Fields
whose JSON type varies by contract are typed VARIANT: a value may be a number or a numeric string, a time an
ISO-8601 string or an epoch number, an NGSI-LD property an object. A VARIANT field keeps what the validation
needs to give the same verdict as ingestion/validation.py: the JSON type of the token (`schema_of_variant`),
JSON null (a VOID variant) as opposed to an absent key (SQL NULL), and the exact text of numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import types as T

from ingestion.catalogue import METRICS
from ingestion.validation import NGSI_PROPERTIES

CORRUPT_COLUMN = "_corrupt_record"

# Envelope keys of the three shapes (one reading, multi-metric record, NGSI-LD entity).
TIME_KEYS = ("timestamp", "time", "ts", "dateObserved")
SENSOR_KEYS = ("sensor_id", "device_id")
METRIC_KEYS = ("metric", "type")
ENVELOPE_KEYS = (*TIME_KEYS, *SENSOR_KEYS, *METRIC_KEYS, "value", "unit", "status", "sent_at", "id", "@context")

# from_json options. Python's json module refuses single quotes; Jackson (Spark) allows them by default.
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_COLUMN,
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "true",  # NaN / Infinity are JSON for Python too; they are rejected as values
}


def message_schema(metric_names: Iterable[str] = METRICS) -> T.StructType:
    """The message contract: envelope keys, one field per catalogue metric (multi-metric records) and per
    NGSI-LD property, all VARIANT, plus the corrupt-record column set when the text is not a JSON object."""
    names: list[str] = []
    for name in (*ENVELOPE_KEYS, *metric_names, *NGSI_PROPERTIES):
        if name not in names:
            names.append(name)
    fields = [T.StructField(name, T.VariantType(), True) for name in names]
    fields.append(T.StructField(CORRUPT_COLUMN, T.StringType(), True))
    return T.StructType(fields)


# What every source hands to the transforms.
SOURCE_SCHEMA = T.StructType(
    [
        T.StructField("value", T.StringType(), True),  # the message text (Kafka: value bytes decoded as UTF-8)
        T.StructField("payload_bytes", T.IntegerType(), True),  # size on the wire, for the 64 KiB rule
        T.StructField("received_at", T.TimestampType(), True),  # for the "5 minutes in the future" rule
        T.StructField("source", T.StringType(), True),  # kafka | files | rate (quarantine.source)
    ]
)

# A valid reading (sensor_data row, before ingested_at).
READING_SCHEMA = T.StructType(
    [
        T.StructField("time", T.TimestampType(), False),
        T.StructField("sensor_id", T.StringType(), False),
        T.StructField("metric", T.StringType(), False),
        T.StructField("value", T.DoubleType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("sent_at", T.DoubleType(), True),
    ]
)

# A rejection (quarantine row).
REJECTION_SCHEMA = T.StructType(
    [
        T.StructField("received_at", T.TimestampType(), True),
        T.StructField("source", T.StringType(), True),
        T.StructField("payload", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("detail", T.StringType(), True),
    ]
)

# A window (sensor_data_agg row, before updated_at). Spark emits the whole state of a window when it changes.
WINDOW_SCHEMA = T.StructType(
    [
        T.StructField("window_start", T.TimestampType(), False),
        T.StructField("window_end", T.TimestampType(), False),
        T.StructField("sensor_id", T.StringType(), False),
        T.StructField("metric", T.StringType(), False),
        T.StructField("avg", T.DoubleType(), False),
        T.StructField("min", T.DoubleType(), False),
        T.StructField("max", T.DoubleType(), False),
        T.StructField("count", T.LongType(), False),
        T.StructField("stddev", T.DoubleType(), True),
        T.StructField("n_warning", T.LongType(), False),
        T.StructField("n_critical", T.LongType(), False),
        T.StructField("n_fault", T.LongType(), False),
        T.StructField("sum_value", T.DoubleType(), False),
        T.StructField("sum_sq", T.DoubleType(), False),
    ]
)

# The single streaming output: readings, rejections and windows of one micro-batch, told apart by `kind`.
KINDS = ("reading", "rejection", "window")


def output_schema() -> T.StructType:
    fields = [T.StructField("kind", T.StringType(), False)]
    seen = {"kind"}
    for schema in (READING_SCHEMA, REJECTION_SCHEMA, WINDOW_SCHEMA):
        for f in schema.fields:
            if f.name not in seen:
                fields.append(T.StructField(f.name, f.dataType, True))
                seen.add(f.name)
    return T.StructType(fields)
