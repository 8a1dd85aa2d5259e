"""The Spark job's plan, as pure DataFrame -> DataFrame functions (no I/O, no state outside the plan).

    source rows (value, payload_bytes, received_at, source; schema.SOURCE_SCHEMA)
      -> validated_rows      mapInArrow(validate.BatchValidator): the project's own Validator on every message,
                             one row per reading or per rejection
      -> readings_of         the valid rows, input of the windows
      -> windowed_aggregates 1-min tumbling under the event-time watermark (the sink derives 5-min, 1-h)
      -> output_frame        one stream for one foreachBatch sink, rows told apart by `kind`

Validation is ingestion/validation.py itself, run inside the Python workers (ingestion/spark/validate.py): the
Spark job and the lite processor give the same verdict with the same reason for the same message by
construction, and a change to the rules is made once. The message is handed over as the bytes the source
received (`value` cast to binary keeps them, invalid UTF-8 included), so the 64 KiB rule and the encoding
checks see what the lite processor sees.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ingestion.spark.validate import VALIDATED_DDL, BatchValidator
from ingestion.validation import Catalogue
from ingestion.writer import WINDOWS

DEFAULT_WATERMARK = "2 minutes"


def validated_rows(
    source: DataFrame, catalogue: Catalogue | None = None, *, catalogue_dsn: str | None = None
) -> DataFrame:
    """Validate every message of a source frame (SOURCE_SCHEMA) with ingestion.validation.Validator.

    Output (validate.VALIDATED_SCHEMA): payload, received_at, source, sensor_id, metric, sent_at, reason, detail,
    value, status, time. A reading has reason NULL; a rejection has reason, detail and payload (the text the
    validator quarantines). With `catalogue_dsn`, every task validates with the database's catalogue of the
    moment (`catalogue` when the database does not answer): see validate.BatchValidator."""
    messages = source.select(F.col("value").cast("binary").alias("value"), "received_at", "source")
    return messages.mapInArrow(BatchValidator(catalogue, dsn=catalogue_dsn), VALIDATED_DDL)


def readings_of(validated: DataFrame) -> DataFrame:
    """The sensor_data rows among the validated rows (those without a rejection reason)."""
    return validated.where(F.col("reason").isNull()).select("time", "sensor_id", "metric", "value", "status", "sent_at")


# -- windows ---------------------------------------------------------------------------------------------


def sample_stddev(n: Column, s: Column, ss: Column) -> Column:
    """The sample standard deviation from count, sum and sum of squares, with the formula of the writer's SQL
    (ingestion/writer.py), so that sensor_data_agg.stddev means the same whichever processor wrote the window
    (and a window merged later by the lite writer stays consistent)."""
    return F.when(n > 1, F.sqrt(F.greatest(F.lit(0.0), (ss - F.pow(s, 2) / n) / (n - 1))))


def windowed_aggregates(readings: DataFrame, *, watermark: str = DEFAULT_WATERMARK) -> DataFrame:
    """1-minute tumbling windows of the deduplicated readings (sensor_data_agg rows), under the event-time
    watermark.

    Only the 1-minute windows are kept in Spark's state; the sink derives the 5-minute sliding and 1-hour windows
    from them in the database (Writer.upsert_windows), as the lite writer builds every window from per-minute
    partials. One aggregation instead of three: each branch of a streaming plan re-reads and re-parses the source
    and keeps its own deduplication state, so three aggregations cost three times the parsing and the state.

    A reading older than the watermark is left out of the 1-minute window Spark has already finalised (its row
    never changes again), hence out of the larger windows too. It is stored raw all the same and counted as late
    by the sink. Duplicates (same sensor, metric, time) are counted once, as the lite writer does."""
    size_s, slide_s = WINDOWS[0]
    deduplicated = readings.withWatermark("time", watermark).dropDuplicates(["sensor_id", "metric", "time"])
    window = F.window("time", f"{size_s} seconds", f"{slide_s} seconds")
    grouped = deduplicated.groupBy(window.alias("w"), "sensor_id", "metric").agg(
        F.count(F.lit(1)).alias("count"),
        F.sum("value").alias("sum_value"),
        F.sum(F.col("value") * F.col("value")).alias("sum_sq"),
        F.min("value").alias("min"),
        F.max("value").alias("max"),
        F.count_if(F.col("status") == "warning").alias("n_warning"),
        F.count_if(F.col("status") == "critical").alias("n_critical"),
        F.count_if(F.col("status") == "fault").alias("n_fault"),
    )
    return grouped.select(
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "sensor_id",
        "metric",
        (F.col("sum_value") / F.col("count")).alias("avg"),
        "min",
        "max",
        "count",
        sample_stddev(F.col("count"), F.col("sum_value"), F.col("sum_sq")).alias("stddev"),
        "n_warning",
        "n_critical",
        "n_fault",
        "sum_value",
        "sum_sq",
    )


# -- 6. one stream for the sink ---------------------------------------------------------------------------------


# -- one stream for the sink ---------------------------------------------------------------------------------


def output_frame(validated: DataFrame, windows: DataFrame) -> DataFrame:
    """Readings, rejections and updated windows of a micro-batch in one frame (`kind` tells them apart), so that
    one query, one checkpoint and one foreachBatch call see the three outputs of the same input.

    Readings and rejections come from one branch (the validated rows, told apart by `reason`) rather than from
    two filtered frames: each branch of a streaming union re-reads the source and validates it again."""
    rejected = F.col("reason").isNotNull()
    records = validated.select(
        F.when(rejected, F.lit("rejection")).otherwise(F.lit("reading")).alias("kind"),
        "time",
        "sensor_id",
        "metric",
        "value",
        "status",
        "sent_at",
        "received_at",
        "source",
        "payload",  # set on rejections only (the text to quarantine)
        "reason",
        "detail",
    )
    return records.unionByName(windows.withColumn("kind", F.lit("window")), allowMissingColumns=True)


def build(
    source: DataFrame,
    *,
    catalogue: Catalogue | None = None,
    catalogue_dsn: str | None = None,
    watermark: str = DEFAULT_WATERMARK,
) -> DataFrame:
    """The whole job's plan from a source frame: the frame the foreachBatch sink receives."""
    validated = validated_rows(source, catalogue, catalogue_dsn=catalogue_dsn)
    return output_frame(validated, windowed_aggregates(readings_of(validated), watermark=watermark))


__all__ = ["DEFAULT_WATERMARK", "build", "output_frame", "readings_of", "validated_rows", "windowed_aggregates"]
