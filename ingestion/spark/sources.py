"""Streaming sources of the Spark job. Each returns a frame of the columns of partition.MESSAGE_COLUMNS: the message
as received (`value`, bytes), `received_at`, `source`, and, from Kafka, what the broker stage of the latency is
measured from (the `broker_at` header of the MQTT -> Kafka bridge, the record timestamp and its type).

- kafka: production (deploy/). Spark's own Kafka source: it needs the connector jar
  org.apache.spark:spark-sql-kafka-0-10_2.13 of the same version as Spark (KAFKA_PACKAGE below), e.g.
  `spark-submit --packages <KAFKA_PACKAGE> ingestion/spark/job.py run --source kafka`. Not run here: the jar
  cannot be obtained on this machine.
- kafka-python: the same columns from ingestion/spark/kafka_source.py (PySpark's Python data source API over
  confluent-kafka), no jar needed. What the tests and benchmarks run against a real broker (Tansu).
- files: a directory of JSON-lines files (one message per line), e.g. written by
  `python -m ingestion simulate --transport files`.
- rate: Spark's rate source turned into valid single-reading messages of catalogue sensors, for smoke tests of
  the processing-time trigger and of graceful stops (no input files needed).

`received_at` is the micro-batch's processing time (current_timestamp() is fixed per batch and recorded in the
offset log, so a replayed batch sees the same instant): the "more than 5 minutes in the future" rule is applied
against it, as the lite processor applies it against the moment it receives a message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ingestion.catalogue import SENSORS
from ingestion.kafka_consumer import BROKER_AT_HEADER

SPARK_VERSION = "4.3.0"  # requirements-spark.txt
KAFKA_PACKAGE = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}"


@dataclass
class KafkaConfig:
    """Options of the Kafka sources (both take the connector's option names). From the environment:
    KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, KAFKA_STARTING_OFFSETS, KAFKA_MAX_OFFSETS_PER_TRIGGER, and any
    KAFKA_OPTION_<NAME>=value passed through as option `<name>` with `_` turned into `.` (e.g.
    KAFKA_OPTION_KAFKA_SECURITY_PROTOCOL=SSL)."""

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
            "includeHeaders": "true",  # the bridge's broker_at header
            **self.extra,
        }
        if self.max_offsets_per_trigger:
            options["maxOffsetsPerTrigger"] = str(self.max_offsets_per_trigger)
        return options


class KafkaConnectorMissing(ValueError):
    """Spark has no Kafka data source on its classpath."""


def kafka_messages(records: DataFrame) -> DataFrame:
    """The job's columns from Kafka records (the columns of Spark's Kafka source, which kafka_source.py has too).
    `value` stays bytes; the broker_at header and the record timestamp are interpreted by the executors with the
    lite Kafka consumer's own rule (ingestion.kafka_consumer.broker_time)."""
    header = F.try_element_at(F.filter("headers", lambda h: h["key"] == F.lit(BROKER_AT_HEADER)), F.lit(1))
    return records.select(
        F.col("value"),
        F.current_timestamp().alias("received_at"),
        F.lit("kafka").alias("source"),
        header["value"].alias("broker_header"),
        F.unix_millis("timestamp").alias("record_ms"),
        F.col("timestampType").alias("record_type"),
    )


def _messages(value: Column, source: str) -> list[Column]:
    """The job's columns for a source without broker metadata."""
    return [
        value.cast("binary").alias("value"),  # the text source's lines as bytes: the bytes of the file, unchanged
        F.current_timestamp().alias("received_at"),
        F.lit(source).alias("source"),
        F.lit(None).cast("binary").alias("broker_header"),
        F.lit(None).cast("bigint").alias("record_ms"),
        F.lit(None).cast("int").alias("record_type"),
    ]


def kafka_source(spark: SparkSession, config: KafkaConfig) -> DataFrame:
    """Messages of a Kafka topic through Spark's connector. Offsets live in the query's checkpoint."""
    from pyspark.errors import AnalysisException

    try:
        raw = spark.readStream.format("kafka").options(**config.options()).load()
    except AnalysisException as exc:
        if "kafka" not in str(exc).lower():
            raise
        raise KafkaConnectorMissing(
            "Spark has no Kafka source on its classpath: start the job with the connector, e.g. "
            f"spark-submit --packages {KAFKA_PACKAGE} ingestion/spark/job.py run --source kafka ... "
            "(needs access to Maven Central, or --jars with the jar and its dependencies; deploy/ does this), "
            "or use --source kafka-python (no jar: confluent-kafka in the Python workers)"
        ) from None
    return kafka_messages(raw)


def kafka_python_source(spark: SparkSession, config: KafkaConfig) -> DataFrame:
    """Messages of a Kafka topic through kafka_source.KafkaPythonSource. Offsets live in the query's checkpoint."""
    from ingestion.spark.kafka_source import NAME, KafkaPythonSource

    spark.dataSource.register(KafkaPythonSource)
    return kafka_messages(spark.readStream.format(NAME).options(**config.options()).load())


def files_source(spark: SparkSession, path: str, *, max_files_per_trigger: int | None = None) -> DataFrame:
    """JSON-lines files of a directory, in order of modification time. Files and directories whose name starts
    with '_' or '.' are ignored (the files transport writes into `_incoming/` and renames into place)."""
    reader = spark.readStream.format("text").option("lineSep", "\n")
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    return reader.load(path).select(*_messages(F.col("value"), "files"))


def rate_source(spark: SparkSession, *, rows_per_second: int = 100) -> DataFrame:
    """Synthetic valid messages: one battery reading per row, sensors of the catalogue in turn."""
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
    return raw.select(*_messages(message, "rate"))
