"""The foreachBatch sink of the Spark job (the driver's side of a micro-batch).

Per micro-batch:
  1. skip it if `stream_batches` already records it (replayed after a crash that followed the writes);
  2. `batch_df.mapInArrow(partition.PartitionWriter(...))` and collect its summaries: each task validates and
     commits its own partition through the project's Writer (partition.py), in parallel, from the executors;
     nothing but one summary row per task comes back to the driver;
  3. one `stream_batches` row with the micro-batch's counts (the sum of its commits' ledger counts).

Spark commits the micro-batch (its checkpoint's commits/ log) after this returns. A crash before that replays the
micro-batch with the same offsets: step 1 skips it, or, if the crash came before step 3, each partition's commit
is found in ingest_ledger and not written again (partition.py). So the database sees each message once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

import psycopg2

from ingestion.spark.partition import PROCESSOR, SUMMARY_DDL, PartitionWriter
from ingestion.validation import Catalogue

log = logging.getLogger(__name__)

# late_dropped and windows are the columns of the stateful job this one replaced (migration 0006): nothing is
# dropped any more and the windows are merged inside each commit, so both are 0; watermark is NULL.
_LOG_ROW = """
INSERT INTO stream_batches (processor, query_id, batch_id, watermark, received, stored, duplicates, quarantined,
                            late_dropped, windows)
VALUES (%s, %s, %s, NULL, %s, %s, %s, %s, 0, 0)
ON CONFLICT DO NOTHING
"""
_LOGGED = "SELECT EXISTS (SELECT 1 FROM stream_batches WHERE processor = %s AND query_id = %s AND batch_id = %s)"


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


@dataclass
class SinkTotals:
    """What the query's micro-batches committed, in the lite processor's units (processor.Totals): received in
    messages, stored / duplicates in readings, quarantined / quarantine_duplicates in rejections. A report; the
    durable counts are ingest_ledger's and stream_batches'."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_duplicates: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    batches: int = 0  # micro-batches written
    skipped: int = 0  # micro-batches found in stream_batches (replays)
    replayed_commits: int = 0  # partition commits found in ingest_ledger (replays)
    tasks: int = 0
    batch_s: float = 0.0  # wall time of the micro-batches in the sink
    read_s: float = 0.0  # summed over the tasks: Arrow -> messages
    validate_s: float = 0.0  # summed over the tasks: FastBuilder.build (or LiteProcessor.build)
    fast: int = 0  # messages validated by the columnar fast path (the others: by the Validator, one by one)
    write_s: float = 0.0  # summed over the tasks: Writer.commit
    task_s: float = 0.0  # summed over the tasks: from their first record batch to their summary
    tasks_wall_s: float = 0.0  # the micro-batches' spans from their first task's start to their last task's end

    def line(self) -> str:
        return (
            f"received {self.received:,} messages -> stored {self.stored:,} readings, {self.duplicates:,} already "
            f"stored, quarantined {self.quarantined:,} (+{self.quarantine_duplicates:,} repeats)"
        )


class BatchSink:
    """The foreachBatch function. Lives on the driver; the writes happen in the executors (partition.py)."""

    def __init__(self, dsn: str, catalogue: Catalogue, *, fast: bool = True):
        self.dsn = dsn
        self.catalogue = catalogue
        self.fast = fast  # the tasks' columnar fast path (fastpath.py); False: LiteProcessor.build for every message
        self.totals = SinkTotals()
        self.query_id: str | None = None
        self._bound = threading.Event()
        self._conn = None
        self._busy = threading.Lock()  # held while a micro-batch is being written
        self.stopping = False
        self.refused = False

    def bind(self, query_id: str) -> None:
        """The query's id (kept in its checkpoint, the same across restarts): part of every ledger identity."""
        self.query_id = query_id
        self._bound.set()

    def _scalar(self, sql: str, args: tuple):
        for attempt in range(2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg2.connect(self.dsn, application_name="madinina-spark-sink")
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchone()[0] if cur.description else None
            except psycopg2.OperationalError:
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

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
        started = time.perf_counter()
        if not self._bound.wait(60):
            raise RuntimeError("the sink was not bound to its query (job.start binds it)")
        if self._scalar(_LOGGED, (PROCESSOR, self.query_id, batch_id)):
            log.info("micro-batch %s already written (replay after a restart): skipped", batch_id)
            self.totals.skipped += 1
            return
        writer = PartitionWriter(self.dsn, self.catalogue, query_id=self.query_id, batch_id=batch_id, fast=self.fast)
        summaries = [row.asDict() for row in batch_df.mapInArrow(writer, SUMMARY_DDL).collect()]
        counts = {name: sum(s[name] for s in summaries) for name in ("received", "stored", "duplicates")}
        quarantined = sum(s["quarantined"] for s in summaries)
        repeats = sum(s["quarantine_duplicates"] for s in summaries)
        self._scalar(
            _LOG_ROW,
            (PROCESSOR, self.query_id, batch_id, counts["received"], counts["stored"],
             counts["duplicates"] + repeats, quarantined),
        )  # fmt: skip
        t = self.totals
        t.batches += 1
        t.tasks += len(summaries)
        t.received += counts["received"]
        t.stored += counts["stored"]
        t.duplicates += counts["duplicates"]
        t.quarantined += quarantined
        t.quarantine_duplicates += repeats
        if summaries:
            t.tasks_wall_s += max(s["ended"] for s in summaries) - min(s["started"] for s in summaries)
        for s in summaries:
            t.task_s += s["ended"] - s["started"]
            t.replayed_commits += s["replayed"]
            t.read_s += s["read_s"]
            t.validate_s += s["validate_s"]
            t.fast += s["fast"]
            t.write_s += s["write_s"]
            for reason, n in json.loads(s["by_reason"]).items():
                t.by_reason[reason] = t.by_reason.get(reason, 0) + n
        elapsed = time.perf_counter() - started
        t.batch_s += elapsed
        done = SinkTotals(**counts, quarantined=quarantined, quarantine_duplicates=repeats)
        tasks = ", ".join(f"{s['read_s']:.2f}/{s['validate_s']:.2f}/{s['write_s']:.2f}" for s in summaries)
        log.info("micro-batch %s: %s; %.2fs (tasks read/validate/write s: %s)", batch_id, done.line(), elapsed, tasks)
