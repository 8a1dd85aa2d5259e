"""Streaming sources of the Spark job. Each returns a frame of schema.SOURCE_SCHEMA:
value (message text), payload_bytes, received_at, source.

- kafka: production. Thin on purpose: options only; decoding is `CAST(value AS STRING)`. It needs the connector
  jar org.apache.spark:spark-sql-kafka-0-10_2.13 of the same version as Spark (KAFKA_PACKAGE below) on the
  classpath, e.g. `spark-submit --packages <KAFKA_PACKAGE> ingestion/spark/job.py run --source kafka`
  (deploy/ does this). NOT exercised by the tests here: no broker and no connector jar can be had on this
  machine.
- files: a directory of JSON-lines files (one message per line), e.g. written by
  `python -m ingestion simulate --transport files`. Used by the tests, the benchmark and local runs.
- rate: Spark's rate source turned into valid single-reading messages of catalogue sensors, for smoke tests of
  the processing-time trigger and of graceful stops (no input files needed).

`received_at` is the micro-batch's processing time (current_timestamp() is fixed per batch and recorded in the
offset log, so a replayed batch sees the same instant): the "more than 5 minutes in the future" rule is applied
against it, as the lite processor applies it against the moment it receives a message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ingestion.catalogue import SENSORS

SPARK_VERSION = "4.3.0"  # requirements-spark.txt
KAFKA_PACKAGE = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}"


@dataclass
class KafkaConfig:
    """Options of Spark's Kafka source. From the environment: KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC,
    KAFKA_STARTING_OFFSETS, KAFKA_MAX_OFFSETS_PER_TRIGGER, and any KAFKA_OPTION_<NAME>=value passed through as
    option `<name>` with `_` turned into `.` (e.g. KAFKA_OPTION_KAFKA_SECURITY_PROTOCOL=SSL)."""

    bootstrap_servers: str = "localhost:9092"
    topic: str = "sensor_data"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env=os.environ, **overrides) -> KafkaConfig:
        extra = {
            key[len("KAFKA_OPTION_") :].lower().replace("_", "."): value
            for key, value in env.items()
            if key.startswith("KAFKA_OPTION_")
        }
        max_offsets = env.get("KAFKA_MAX_OFFSETS_PER_TRIGGER")
        config = cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic=env.get("KAFKA_TOPIC", cls.topic),
            starting_offsets=env.get("KAFKA_STARTING_OFFSETS", cls.starting_offsets),
            max_offsets_per_trigger=int(max_offsets) if max_offsets else None,
            extra=extra,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        return config

    def options(self) -> dict[str, str]:
        options = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "subscribe": self.topic,
            "startingOffsets": self.starting_offsets,
            "failOnDataLoss": str(self.fail_on_data_loss).lower(),
            **self.extra,
        }
        if self.max_offsets_per_trigger:
            options["maxOffsetsPerTrigger"] = str(self.max_offsets_per_trigger)
        return options


class KafkaConnectorMissing(ValueError):
    """Spark has no Kafka data source on its classpath."""


def kafka_source(spark: SparkSession, config: KafkaConfig) -> DataFrame:
    """Messages from a Kafka topic (value = UTF-8 JSON). Offsets live in the query's checkpoint."""
    from pyspark.errors import AnalysisException

    try:
        raw = spark.readStream.format("kafka").options(**config.options()).load()
    except AnalysisException as exc:
        if "kafka" not in str(exc).lower():
            raise
        raise KafkaConnectorMissing(
            "Spark has no Kafka source on its classpath: start the job with the connector, e.g. "
            f"spark-submit --packages {KAFKA_PACKAGE} ingestion/spark/job.py run --source kafka ... "
            "(needs access to Maven Central, or --jars with the jar and its dependencies; deploy/ does this)"
        ) from None
    return raw.select(
        F.col("value").cast("string").alias("value"),
        F.octet_length("value").alias("payload_bytes"),
        F.current_timestamp().alias("received_at"),
        F.lit("kafka").alias("source"),
    )


def files_source(spark: SparkSession, path: str, *, max_files_per_trigger: int | None = None) -> DataFrame:
    """JSON-lines files of a directory, in order of modification time. Files and directories whose name starts
    with '_' or '.' are ignored (the files transport writes into `_incoming/` and renames into place)."""
    reader = spark.readStream.format("text").option("lineSep", "\n")
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    raw = reader.load(path)
    return raw.select(
        F.col("value"),
        F.octet_length("value").alias("payload_bytes"),
        F.current_timestamp().alias("received_at"),
        F.lit("files").alias("source"),
    )


def rate_source(spark: SparkSession, *, rows_per_second: int = 100) -> DataFrame:
    """Synthetic valid messages: one temperature-like reading per row, sensors of the catalogue in turn."""
    sensors = [s.sensor_id for s in SENSORS if "battery" in s.metrics]
    raw = spark.readStream.format("rate").option("rowsPerSecond", str(rows_per_second)).load()
    sensor = F.element_at(F.array(*[F.lit(s) for s in sensors]), (F.col("value") % len(sensors) + 1).cast("int"))
    message = F.to_json(
        F.struct(
            F.date_format(F.col("timestamp"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").alias("timestamp"),
            sensor.alias("sensor_id"),
            F.lit("battery").alias("metric"),
            (F.lit(50.0) + (F.col("value") % 500) / 10.0).alias("value"),
        )
    )
    return raw.select(
        message.alias("value"),
        F.octet_length(message).alias("payload_bytes"),
        F.current_timestamp().alias("received_at"),
        F.lit("rate").alias("source"),
    )
