"""The one writer of readings: raw rows (idempotent), sensor_latest and windowed aggregates in one transaction.

Per batch: one binary-safe CSV COPY into a session-temporary staging table, then ONE statement whose
data-modifying CTEs insert the raw rows (ON CONFLICT DO NOTHING), and from the rows actually inserted update
sensor_latest and upsert every window of sensor_data_agg and sensor_data_agg_6h. Because aggregates are fed only
by rows that were really inserted, replaying a batch (MQTT redelivery, Spark retry of a batch_id) changes nothing:
the write is idempotent end to end, and a late reading simply merges into its (possibly old) windows.

`commit()` is how the processors write: one transaction holds a batch's rejections (quarantine), its readings,
its pipeline KPIs and its ingest_ledger row (what the transport handed over and what became of it), so the
durable counts can never disagree with the data, whatever crashes when. The SQL is in ingestion/writer_sql.py.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.extras
import pyarrow as pa
import pyarrow.csv as pacsv
import tenacity

from ingestion.catalogue import METRICS, Metric
from ingestion.readings import Rejection
from ingestion.writer_sql import (  # noqa: F401 - _QUARANTINE is also read by tests
    _CONFLICT_FREE,
    _COPY,
    _KPI,
    _LEDGER,
    _LEDGER_SEEN,
    _LEDGER_THROUGH,
    _MERGE,
    _MERGE_FAST,
    _MERGE_RAW,
    _QUARANTINE,
    _STAGING_DDL,
    WINDOWS,
)

log = logging.getLogger(__name__)


_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


@dataclass(frozen=True)
class BatchTimings:
    """Mean epoch-second instants of a batch, for pipeline_kpi: event time (source), send time (broker side:
    the producer's send instant, MQTT/Kafka have no broker timestamp we can trust), processor receive time."""

    source: float | None = None
    broker: float | None = None
    received: float | None = None


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int
    batch_id: str


@dataclass
class Batch:
    """What one transaction commits: the readings and rejections parsed from `received` transport units
    (messages), and where they came from (a spool's id and sequence range make the commit replay-safe)."""

    frame: pd.DataFrame
    rejections: list[Rejection]
    received: int
    source: str
    timings: BatchTimings | None = None
    spool_id: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    stored: int
    duplicates: int
    quarantined: int
    quarantine_duplicates: int
    by_reason: dict[str, int] = field(default_factory=dict)
    replayed: bool = False  # the ledger already had this spool range: nothing was written again


# Errors after which the same batch may succeed on a new connection (server gone, restarting, network).
TRANSIENT_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


def compute_status(frame: pd.DataFrame, metrics: dict[str, Metric] = METRICS) -> np.ndarray:
    """Vectorised Metric.status_of, for batches that arrive without a status (backfill)."""
    status = np.full(len(frame), "ok", dtype=object)
    values = frame["value"].to_numpy()
    for name, metric in metrics.items():
        mask = (frame["metric"] == name).to_numpy()
        if not mask.any():
            continue
        v = values[mask]
        s = np.full(v.shape, "ok", dtype=object)
        for level, low, high in (
            ("warning", metric.warn_low, metric.warn_high),
            ("critical", metric.crit_low, metric.crit_high),
        ):
            hit = np.zeros(v.shape, dtype=bool)
            if low is not None:
                hit |= v < low
            if high is not None:
                hit |= v > high
            s[hit] = level
        status[mask] = s
    return status


def csv_payload(frame: pd.DataFrame) -> bytes:
    """The staging COPY payload. Times travel as integer microseconds: exact, and cheap to format."""
    t_us = frame["time"].dt.as_unit("us").astype("int64").to_numpy()
    status = frame["status"] if "status" in frame else compute_status(frame)
    table = pa.table(
        {
            "t_us": pa.array(t_us, type=pa.int64()),
            "sensor_id": pa.array(frame["sensor_id"].to_numpy(), type=pa.string()),
            "metric": pa.array(frame["metric"].to_numpy(), type=pa.string()),
            "value": pa.array(frame["value"].to_numpy(dtype="float64"), type=pa.float64()),
            "status": pa.array(np.asarray(status, dtype=object), type=pa.string()),
        }
    )
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, _CSV_OPTIONS)
    return sink.getvalue()


class _Staged:
    """A batch frame made ready for the staging COPY: de-duplicated inside the batch, encoded once (a retried
    batch does not encode again)."""

    def __init__(self, frame: pd.DataFrame):
        unique = frame.drop_duplicates(["sensor_id", "metric", "time"])
        self.payload = csv_payload(unique)


def _quarantine_rows(rejections: list[Rejection]) -> list[tuple]:
    now = time.time()
    return [r.db_row(now) for r in rejections]  # valid PostgreSQL text, bounded: always insertable


class Writer:
    """Owns one connection (writer role). A batch whose connection fails is retried on a new connection with
    exponential backoff (0.2 s doubling to max_backoff_s) and jitter (tenacity): `retries` times, or forever with
    retries=None (the consumers: an outage of any length never stops them; `stop` ends the waiting). Writes are
    idempotent, so a retry after an unknown outcome is safe. Logs one line when the database goes away and one
    when it is back."""

    def __init__(
        self,
        dsn: str,
        *,
        processor: str = "lite",
        retries: int | None = 5,
        stop: threading.Event | None = None,
        max_backoff_s: float = 10.0,
    ):
        self.dsn = dsn
        self.processor = processor
        self.retries = retries
        self.stop = stop
        self.max_backoff_s = max_backoff_s
        self._conn = None
        self._seq = 0
        self._run_id = uuid.uuid4().hex[:8]
        self.down_since: float | None = None  # monotonic instant of the first failure of the current outage
        self.last_error = ""

    # -- connection -------------------------------------------------------------------------------------------
    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(
                self.dsn, application_name=f"madinina-writer-{self.processor}", connect_timeout=5
            )
            with self._conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
                # Big set-based statements: JIT compilation costs more than it saves here, and the batch's
                # grouping must stay in memory.
                cur.execute("SET jit = off")
                cur.execute("SET work_mem = '64MB'")
                cur.execute(_STAGING_DDL)
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _went_down(self, state: tenacity.RetryCallState) -> None:
        error = str(state.outcome.exception()).strip().splitlines()[0] if state.outcome else "?"
        self.last_error = error
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("%s: database unavailable (%s); retrying with backoff", self.processor, error)

    def _came_back(self) -> None:
        if self.down_since is not None:
            log.warning("%s: database back after %.1fs", self.processor, time.monotonic() - self.down_since)
            self.down_since = None
            self.last_error = ""

    def _with_retry(self, work):
        stop = tenacity.stop_never if self.retries is None else tenacity.stop_after_attempt(self.retries + 1)
        if self.stop is not None:
            stop = stop | tenacity.stop_when_event_set(self.stop)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TRANSIENT_ERRORS),
            wait=tenacity.wait_exponential_jitter(multiplier=0.2, max=self.max_backoff_s, jitter=0.5),
            stop=stop,
            sleep=self.stop.wait if self.stop is not None else time.sleep,
            before_sleep=self._went_down,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                conn = self._connection()
                try:
                    result = work(conn)
                    conn.commit()
                except TRANSIENT_ERRORS:
                    self.close()
                    raise
                except psycopg2.Error as exc:
                    if conn.closed:  # the server went away mid-statement, whatever libpq called it: retry
                        self.close()
                        raise psycopg2.OperationalError(str(exc).strip() or type(exc).__name__) from exc
                    conn.rollback()
                    raise
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
        self._came_back()
        return result

    # -- writes -----------------------------------------------------------------------------------------------
    def next_batch_id(self) -> str:
        self._seq += 1
        return f"{self.processor}-{self._run_id}-{self._seq}"

    def write(
        self,
        frame: pd.DataFrame,
        *,
        batch_id: str | None = None,
        timings: BatchTimings | None = None,
        aggregates: bool = True,
    ) -> WriteResult:
        """Store a batch frame (columns time, sensor_id, metric, value[, status]); returns stored/duplicates."""
        batch_id = batch_id or self.next_batch_id()
        if frame.empty:
            return WriteResult(0, 0, batch_id)
        staged = _Staged(frame)

        def work(conn, *, fast_allowed: bool):
            with conn.cursor() as cur:
                return self._insert_readings(cur, staged, fast_allowed, aggregates, timings, batch_id)

        stored = self._with_fast_path(work)
        return WriteResult(stored, len(frame) - stored, batch_id)

    def commit(self, batch: Batch) -> BatchResult:
        """Commit one batch in ONE transaction: its rejections into quarantine, its readings (raw, latest, windows),
        its pipeline KPIs and its ingest_ledger row — so the durable counts always match the data. A batch from a
        spool whose (spool_id, last_seq) the ledger already holds was committed before a crash: nothing is
        written again (replayed=True)."""
        batch_id = self.next_batch_id()
        staged = _Staged(batch.frame) if not batch.frame.empty else None
        rejections = _quarantine_rows(batch.rejections)
        by_reason: dict[str, int] = {}
        for rej in batch.rejections:
            by_reason[rej.reason] = by_reason.get(rej.reason, 0) + 1

        def work(conn, *, fast_allowed: bool):
            with conn.cursor() as cur:
                if batch.spool_id is not None:
                    cur.execute(_LEDGER_SEEN, (batch.spool_id, batch.last_seq))
                    seen = cur.fetchone()
                    if seen is not None:
                        return None
                quarantined = self._insert_rejections(cur, rejections)
                stored = 0
                if staged is not None:
                    stored = self._insert_readings(cur, staged, fast_allowed, True, batch.timings, batch_id)
                counts = {
                    "batch_id": batch_id,
                    "processor": self.processor,
                    "source": batch.source[:64],
                    "spool_id": batch.spool_id,
                    "first_seq": batch.first_seq,
                    "last_seq": batch.last_seq,
                    "received": batch.received,
                    "stored": stored,
                    "duplicates": len(batch.frame) - stored,
                    "quarantined": quarantined,
                    "quarantine_duplicates": len(rejections) - quarantined,
                    "by_reason": json.dumps(by_reason, sort_keys=True),
                }
                cur.execute(_LEDGER, counts)
                return counts

        counts = self._with_fast_path(work)
        if counts is None:
            return BatchResult(batch_id, 0, 0, 0, 0, by_reason, replayed=True)
        return BatchResult(
            batch_id,
            counts["stored"],
            counts["duplicates"],
            counts["quarantined"],
            counts["quarantine_duplicates"],
            by_reason,
        )

    def committed_through(self, spool_id: str) -> int:
        """The highest spool seq the ledger holds for this spool (0 if none): every entry up to it is committed."""

        def work(conn):
            with conn.cursor() as cur:
                cur.execute(_LEDGER_THROUGH, (spool_id,))
                return int(cur.fetchone()[0])

        return self._with_retry(work)

    def _with_fast_path(self, work):
        try:
            return self._with_retry(lambda conn: work(conn, fast_allowed=True))
        except psycopg2.errors.UniqueViolation:  # another writer won a race on the conflict-free fast path
            return self._with_retry(lambda conn: work(conn, fast_allowed=False))

    def _insert_readings(self, cur, staged: _Staged, fast_allowed: bool, aggregates: bool, timings, batch_id) -> int:
        """COPY the batch into staging, then the one merge statement; returns the readings really inserted."""
        cur.copy_expert(_COPY, io.BytesIO(staged.payload))
        if not aggregates:
            statement = _MERGE_RAW
        else:
            fast = False
            if fast_allowed:
                cur.execute(_CONFLICT_FREE)
                fast = cur.fetchone()[0]
            statement = _MERGE_FAST if fast else _MERGE
        cur.execute(statement)
        inserted = int(cur.fetchone()[0])
        if timings is not None:
            self._record_kpi(cur, timings, inserted, batch_id)
        return inserted

    def _record_kpi(self, cur, timings: BatchTimings, rows: int, batch_id: str) -> None:
        now = time.time()
        stages = []
        if timings.broker is not None and timings.source is not None:
            stages.append(("source_to_broker", timings.broker - timings.source))
        if timings.received is not None and timings.broker is not None:
            stages.append(("broker_to_processor", timings.received - timings.broker))
        if timings.received is not None:
            stages.append(("processor_to_db", now - timings.received))
        if timings.source is not None:
            stages.append(("end_to_end", now - timings.source))
        values = [
            (datetime.fromtimestamp(now, UTC), stage, max(0.0, seconds * 1000.0), rows, batch_id, self.processor)
            for stage, seconds in stages
        ]
        if values:
            psycopg2.extras.execute_values(cur, _KPI, values)

    @staticmethod
    def _insert_rejections(cur, rows: list[tuple]) -> int:
        if not rows:
            return 0
        return len(psycopg2.extras.execute_values(cur, _QUARANTINE, rows, page_size=1000, fetch=True))

    def quarantine(self, rejections: list[Rejection]) -> int:
        """Store rejections; returns how many were new (a rejection already stored is not stored again)."""
        if not rejections:
            return 0
        rows = _quarantine_rows(rejections)

        def work(conn):
            with conn.cursor() as cur:
                return self._insert_rejections(cur, rows)

        return self._with_retry(work)
