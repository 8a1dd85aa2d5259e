"""Explicit schemas of the Spark job: the message contract (DESIGN.md §3) and what every source hands on.

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
