"""foreachBatch sink of the Spark job: one micro-batch -> the project's Writer, idempotent on the batch id.

Per micro-batch (the frame of transforms.output_frame, collected once as Arrow):
  1. skip the batch if `stream_batches` already records it (a replay after a crash that followed the commit);
  2. rejections -> Writer.quarantine (stored once: the quarantine fingerprint absorbs a replay);
  3. readings -> Writer.write(batch_id="spark-raw-<id>", aggregates=False): raw rows ON CONFLICT DO NOTHING and
     sensor_latest, plus pipeline_kpi rows (processor 'spark') unless a previous attempt of the batch wrote them;
  4. windows -> Writer.upsert_windows: Spark emits the full state of each changed 1-minute window (output mode
     update), so overwriting is idempotent; the 5-minute and 1-hour windows containing them are recomputed from
     the 1-minute rows in the same transaction;
  5. one `stream_batches` row: received = stored + duplicates + quarantined, late_dropped, the watermark.

A reading older than the watermark (event time <= the watermark of the previous micro-batch) is stored raw and
counted in stream_batches.late_dropped, never silently lost; Spark leaves it out of the 1-minute window it has
already finalised (its row never changes again), hence out of the larger windows derived from it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.readings import Counters, Rejection
from ingestion.writer import BatchTimings, Writer

log = logging.getLogger(__name__)

PROCESSOR = "spark"

_LOG_ROW = """
INSERT INTO stream_batches (processor, query_id, batch_id, watermark, received, stored, duplicates, quarantined,
                            late_dropped, windows)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""


class SchemaMissing(RuntimeError):
    pass


class StopRequested(RuntimeError):
    """Raised by the sink for a micro-batch that starts after a graceful stop was requested: nothing of it is
    written, Spark does not commit it, and the next start processes it."""


def ensure_schema(dsn: str) -> None:
    """Check that `stream_batches` (migration 0006) exists, before the query starts rather than in its first batch."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('stream_batches') IS NOT NULL")
            if not cur.fetchone()[0]:
                raise SchemaMissing(
                    "table stream_batches is missing: apply the migrations first (python -m db up, or "
                    "python -m db migrate with the owner's DATABASE_URL)"
                )
    finally:
        conn.close()


class CheckpointFiles:
    """Reads the checkpoint's own logs through Hadoop's FileSystem API (local, HDFS, S3A alike)."""

    def __init__(self, spark, checkpoint: str):
        self.spark = spark
        self.checkpoint = checkpoint.rstrip("/")

    def read(self, relative: str) -> str | None:
        jvm = self.spark.sparkContext._jvm
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()
        path = jvm.org.apache.hadoop.fs.Path(f"{self.checkpoint}/{relative}")
        fs = path.getFileSystem(conf)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            while True:
                line = reader.readLine()
                if line is None:
                    break
                lines.append(line)
            return "\n".join(lines)
        finally:
            stream.close()

    def batch_metadata(self, batch_id: int) -> dict:
        """{"batchWatermarkMs": ..., "batchTimestampMs": ...} of a planned micro-batch (offsets/<id>)."""
        text = self.read(f"offsets/{batch_id}")
        if text is None:
            return {}
        lines = text.split("\n")
        return json.loads(lines[1]) if len(lines) > 1 and lines[1].startswith("{") else {}

    def query_id(self) -> str:
        text = self.read("metadata")
        return json.loads(text)["id"] if text else "unknown"


@dataclass
class SinkTotals(Counters):
    """The processor counters (received = stored + duplicates + quarantined) plus the sink's own: micro-batches
    written and skipped as replays, readings later than the watermark, window rows upserted."""

    batches: int = 0
    skipped: int = 0
    late_dropped: int = 0
    windows: int = 0
    compute_s: float = 0.0  # running the plan of the micro-batches (read, validate, windows) up to the Arrow table
    write_s: float = 0.0  # the database writes of the sink


def _epoch_s(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.divide(pc.cast(pc.cast(column, pa.timestamp("us", "UTC")), pa.int64()), 1e6)


class BatchSink:
    """The foreachBatch function. Lives on the driver; owns one Writer (one connection, writer role)."""

    def __init__(self, dsn: str, checkpoint: str, *, spark=None, writer: Writer | None = None):
        self.dsn = dsn
        self.checkpoint = checkpoint
        self.spark = spark
        self.writer = writer or Writer(dsn, processor=PROCESSOR)
        self.totals = SinkTotals()
        self._files: CheckpointFiles | None = None
        self._query_id: str | None = None
        self._conn = None
        self._busy = threading.Lock()  # held while a micro-batch is being written
        self.stopping = False
        self.refused = False

    # -- helpers ----------------------------------------------------------------------------------------------
    def _db(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn, application_name="madinina-spark-sink")
            self._conn.autocommit = True
        return self._conn

    def _scalar(self, sql: str, args: tuple):
        for attempt in range(2):
            try:
                with self._db().cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchone()[0]
            except psycopg2.OperationalError:
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.writer.close()
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def _checkpoint(self, spark) -> CheckpointFiles:
        if self._files is None:
            self._files = CheckpointFiles(spark, self.checkpoint)
        return self._files

    # -- the foreachBatch function ---------------------------------------------------------------------------------
    def request_stop(self, timeout: float) -> bool:
        """Graceful stop, step 1: refuse the micro-batches that start from now on, and wait (up to `timeout` s)
        until the one being written, if any, is written. True when no batch is being written any more."""
        self.stopping = True
        if self._busy.acquire(timeout=max(timeout, 0.0)):
            self._busy.release()
            return True
        return False

    def __call__(self, batch_df, batch_id: int) -> None:
        if self.stopping:
            self.refused = True
            raise StopRequested(f"micro-batch {batch_id} not started: the job is stopping (it runs at the next start)")
        with self._busy:
            self._run(batch_df, batch_id)

    def _run(self, batch_df, batch_id: int) -> None:
        started = time.monotonic()
        spark = self.spark or batch_df.sparkSession
        files = self._checkpoint(spark)
        if self._query_id is None:
            self._query_id = files.query_id()
        if self._scalar(
            "SELECT EXISTS (SELECT 1 FROM stream_batches WHERE processor = %s AND query_id = %s AND batch_id = %s)",
            (PROCESSOR, self._query_id, batch_id),
        ):
            log.info("batch %s already written (replay after a restart): skipped", batch_id)
            self.totals.skipped += 1
            # Spark still has to run the batch to rebuild its state stores (it checks that every stateful
            # partition committed): execute the plan into the no-op sink, write nothing.
            batch_df.write.format("noop").mode("overwrite").save()
            return
        table = batch_df.toArrow()
        computed = time.monotonic()
        self.totals.compute_s += computed - started
        log.debug("batch %s: %s rows computed in %.2fs", batch_id, table.num_rows, computed - started)
        current = files.batch_metadata(batch_id)
        previous = files.batch_metadata(batch_id - 1) if batch_id > 0 else {}
        late_wm_ms = int(previous.get("batchWatermarkMs", 0))
        batch_ts = current.get("batchTimestampMs")
        result = self.write(table, batch_id, late_watermark_ms=late_wm_ms, batch_timestamp_ms=batch_ts)
        self.totals.write_s += time.monotonic() - computed
        log.info(
            "batch %s: received %s = stored %s + duplicates %s + quarantined %s; late_dropped %s; %s windows; %.2fs",
            batch_id,
            result["received"],
            result["stored"],
            result["duplicates"],
            result["quarantined"],
            result["late_dropped"],
            result["windows"],
            time.monotonic() - started,
        )

    def write(
        self, table: pa.Table, batch_id: int, *, late_watermark_ms: int = 0, batch_timestamp_ms: int | None = None
    ) -> dict[str, int]:
        kind = table.column("kind")
        readings = table.filter(pc.equal(kind, "reading"))
        rejections = table.filter(pc.equal(kind, "rejection"))
        windows = table.filter(pc.equal(kind, "window"))

        # 2. quarantine
        quarantined = 0
        if rejections.num_rows:
            rows = rejections.select(["received_at", "source", "payload", "reason", "detail"]).to_pylist()
            rejected = [
                Rejection(
                    r["reason"],
                    r["detail"] or "",
                    r["payload"] if r["payload"] is not None else "",
                    r["source"] or "spark",
                    r["received_at"].timestamp() if r["received_at"] is not None else None,
                )
                for r in rows
            ]
            quarantined = self.writer.quarantine(rejected)
            for r in rejected:
                self.totals.by_reason[r.reason] = self.totals.by_reason.get(r.reason, 0) + 1

        # 3. raw + sensor_latest + pipeline_kpi
        stored = duplicates = late_dropped = 0
        if readings.num_rows:
            frame = readings.select(["time", "sensor_id", "metric", "value", "status"]).to_pandas()
            frame["time"] = pd.to_datetime(frame["time"], utc=True)
            times = _epoch_s(readings.column("time"))
            late_dropped = (
                int(pc.sum(pc.less_equal(times, late_watermark_ms / 1000.0)).as_py() or 0) if late_watermark_ms else 0
            )
            sent = readings.column("sent_at")
            raw_batch_id = f"spark-raw-{batch_id}"
            kpi_done = self._scalar(
                "SELECT EXISTS (SELECT 1 FROM pipeline_kpi WHERE batch_id = %s AND processor = %s)",
                (raw_batch_id, PROCESSOR),
            )
            timings = None
            if not kpi_done:
                timings = BatchTimings(
                    source=pc.mean(times).as_py(),
                    broker=pc.mean(sent).as_py() if sent.null_count < len(sent) else None,
                    received=batch_timestamp_ms / 1000.0 if batch_timestamp_ms else time.time(),
                )
            result = self.writer.write(frame, batch_id=raw_batch_id, timings=timings, aggregates=False)
            stored, duplicates = result.stored, result.duplicates

        # 4. windows
        upserted = 0
        if windows.num_rows:
            wframe = windows.select(list(Writer.WINDOW_COLUMNS)).to_pandas()
            for name in ("window_start", "window_end"):
                wframe[name] = pd.to_datetime(wframe[name], utc=True)
            upserted = self.writer.upsert_windows(wframe)

        # 5. the batch log
        received = readings.num_rows + rejections.num_rows
        duplicates += rejections.num_rows - quarantined
        watermark = pd.Timestamp(late_watermark_ms, unit="ms", tz="UTC").to_pydatetime() if late_watermark_ms else None
        with self._db().cursor() as cur:
            cur.execute(
                _LOG_ROW,
                (
                    PROCESSOR,
                    self._query_id or "unknown",
                    batch_id,
                    watermark,
                    received,
                    stored,
                    duplicates,
                    quarantined,
                    late_dropped,
                    upserted,
                ),
            )
        t = self.totals
        t.batches += 1
        t.received += received
        t.stored += stored
        t.duplicates += duplicates
        t.quarantined += quarantined
        t.late_dropped += late_dropped
        t.windows += upserted
        return {
            "received": received,
            "stored": stored,
            "duplicates": duplicates,
            "quarantined": quarantined,
            "late_dropped": late_dropped,
            "windows": upserted,
        }
