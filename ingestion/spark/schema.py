"""What every source of the Spark job hands to the transforms (an explicit schema, never inferred).

Messages are not parsed by Spark: the validation stage (ingestion/spark/validate.py) gives each message's bytes to
ingestion.validation.Validator, the one parser of the message contract (DESIGN.md §3). Its output schema is
validate.VALIDATED_SCHEMA.
"""

from __future__ import annotations

from pyspark.sql import types as T

SOURCE_SCHEMA = T.StructType(
    [
        # The message as received. A string here (Kafka: the value bytes cast to STRING, which keeps the bytes
        # as they are, invalid UTF-8 included); the validation stage casts it back to binary, the same bytes.
        T.StructField("value", T.StringType(), True),
        T.StructField("payload_bytes", T.IntegerType(), True),  # size on the wire (informative: see validate.py)
        T.StructField("received_at", T.TimestampType(), True),  # for the "5 minutes in the future" rule
        T.StructField("source", T.StringType(), True),  # kafka | files | rate (quarantine.source)
    ]
)
