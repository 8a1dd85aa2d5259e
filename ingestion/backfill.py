"""Backfill: N days of simulated history, newest first, at the writer's speed, beside the live ingestion.

Order: the last hour, then the rest of the last 24 h, then the older history, each part in chunks written newest
first (at most a day, on the epoch grid like the TimescaleDB raw chunks), so the Live and Trends pages have recent
history within seconds and the range that is complete grows backwards from now.

Each chunk is one transaction, on one of two paths:
- fast (the range holds no reading yet, the normal case): readings and the windows computed in memory
  (ingestion/backfill_windows.py), prepared in a worker thread (ingestion/backfill_encode.py), are sent with binary
  COPY straight into sensor_data and sensor_data_agg; only the windows reaching outside the chunk, and the chunk's
  share of the 6-hour rollup (sensor_data_agg_6h), go through staging tables and are merged (ON CONFLICT ...
  additive, as the writer does). A concurrent writer that got into the range first turns this into a unique
  violation: the chunk is redone on
- the merging path (the range already holds readings: a restart filling the gap since the last run, the live
  readings of the last minutes): minutes a series already has are left out (no backfill reading slipped between
  live ones), the rest goes through Writer.commit (idempotent, windows merged).
sensor_latest only moves forward, and only the rows the chunk advances are touched (no lock held on the others:
the live writer never waits for the backfill). Every chunk writes its ingest_ledger row (processor 'backfill')
and no pipeline_kpi row: backfilled readings are not live pipeline latency. Progress (%, ETA, the instant from
which history is complete) goes to the terminal and to backfill_progress (migration 0011) for the dashboard.
After the last chunk, alerts are evaluated over the backfilled range (ingestion/alerts_history.py).
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.extras

from ingestion import backfill_sql as q
from ingestion.backfill_encode import ChunkEncoder, Prepared
from ingestion.backfill_plan import Chunk, ledger_row, local_text, lower_backend_priority, plan, ts_ns, ts_s
from ingestion.backfill_windows import STATUSES
from ingestion.simulator import Simulator
from ingestion.writer import Batch, Writer
from ingestion.writer_sql import _LEDGER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillResult:
    readings: int  # generated for the range
    stored: int  # new rows in sensor_data
    fast_chunks: int
    merged_chunks: int
    seconds: float
    alerts: int
    state: str = "done"  # or "stopped" (Ctrl-C / SIGTERM before the end)
    alerts_seconds: float = 0.0  # of `seconds`: the historic alerts' evaluation after the last chunk


class Backfill:
    """One backfill run. `end` defaults to now; `out` receives the progress lines (None: silent); `jobs`
    chunks are written at a time."""

    def __init__(
        self,
        dsn: str,
        *,
        span_s: float,
        step_s: float = 60.0,
        seed: int = 42,
        end: float | None = None,
        stop: threading.Event | None = None,
        retries: int | None = 5,
        out: Callable[[str], None] | None = print,
        alerts: bool = True,
        jobs: int = 2,
    ):
        self.dsn = dsn
        self.sim = Simulator(seed=seed)
        self.end = time.time() if end is None else float(end)
        self.step_s = float(step_s)
        self.chunks = plan(self.end, span_s, self.step_s, len(self.sim.series))
        self.stop = stop or threading.Event()
        self.retries = retries
        self.out = out
        self.alerts = alerts
        self.jobs = max(1, int(jobs))
        self._installed_lock = threading.Lock()
        self._code_of = {series: code for code, series in enumerate(self.sim.series)}
        self.encoder = ChunkEncoder(self.sim, self.step_s)
        self.run_id = f"backfill-{uuid.uuid4().hex[:8]}"
        self.total = sum(self._expected_rows(c) for c in self.chunks)
        self.done = self.stored = 0

    def _expected_rows(self, c: Chunk) -> int:
        step_ns = int(round(self.step_s * 1e9))
        first = -(-int(math.floor(c.start * 1e9)) // step_ns)
        last = -(-int(math.ceil(c.end * 1e9)) // step_ns)
        return max(0, last - first) * len(self.sim.series)

    # -- database ---------------------------------------------------------------------------------------------
    def _thresholds(self, writer: Writer) -> np.ndarray:
        """Per series code (warn_low, warn_high, crit_low, crit_high) from the database's metrics (NaN = none):
        the catalogue the live validation uses, operators' edits included."""

        def work(conn):
            with conn.cursor() as cur:
                cur.execute(q.THRESHOLDS)
                return {row[0]: row[1:] for row in cur.fetchall()}

        by_metric = writer._with_retry(work)
        return np.array(
            [[np.nan if v is None else v for v in by_metric.get(m, (None,) * 4)] for _, m in self.sim.series],
            dtype=float,
        ).reshape(-1, 4)

    def _latest_rows(self, p: Prepared) -> list[tuple]:
        last = np.full(len(self.sim.series), -1, dtype=np.int64)
        np.maximum.at(last, p.codes, p.t_ns)
        pick = np.flatnonzero(p.t_ns == last[p.codes])
        return [
            (*self.sim.series[p.codes[i]], ts_ns(p.t_ns[i]), float(p.values[i]), STATUSES[p.status[i]]) for i in pick
        ]

    def _installed_rows(self, codes: np.ndarray, t_ns: np.ndarray) -> list[tuple[str, int]]:
        """(sensor, first reading in ns) for the sensors whose known installed_at is later than that reading."""
        sensors = np.array([s for s, _ in self.sim.series])[codes]
        first = pd.Series(t_ns).groupby(sensors).min()
        with self._installed_lock:
            return [(s, int(t)) for s, t in first.items() if self.installed.get(s, t + 1) > t]

    def _installed_at(self, cur, rows: list[tuple[str, int]]) -> None:
        if rows:  # only when something changes: the statement NOTIFYs every catalogue watcher
            psycopg2.extras.execute_values(cur, q.INSTALLED_AT, [(s, ts_ns(t)) for s, t in rows])

    def _mark_installed(self, rows: list[tuple[str, int]]) -> None:
        with self._installed_lock:
            for s, t in rows:
                self.installed[s] = min(t, self.installed.get(s, t))

    def _fast(self, writer: Writer, p: Prepared, batch_id: str) -> int:
        latest, installed = self._latest_rows(p), self._installed_rows(p.codes, p.t_ns)

        def work(conn):
            with conn.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")  # a lost chunk is simply written by the next run
                # up to the end of the chunk's last minute: a minute that has live readings gets none from here
                cur.execute(q.RAW_IN_RANGE, {"a": ts_s(p.chunk.start), "b": ts_s(math.ceil(p.chunk.end / 60) * 60)})
                if cur.fetchone()[0]:
                    return None
                # plain COPY, no ON CONFLICT: a row that exists (a concurrent writer) is a unique violation
                cur.copy_expert(q.COPY_READINGS, io.BytesIO(p.readings_copy))
                stored = cur.rowcount
                # sensor_latest, then windows, each in key order: the live writer's order, so no deadlock
                psycopg2.extras.execute_values(cur, q.LATEST, latest, page_size=2000)
                if p.windows_copy:
                    cur.copy_expert(q.COPY_WINDOWS, io.BytesIO(p.windows_copy))
                if p.edges_copy:
                    cur.execute(q.EDGES_DDL)
                    cur.copy_expert(q.COPY_EDGES, io.BytesIO(p.edges_copy))
                    cur.execute(q.MERGE_EDGE_WINDOWS)
                if p.rollup_copy:
                    cur.execute(q.ROLLUP_6H_DDL)
                    cur.copy_expert(q.COPY_ROLLUP_6H, io.BytesIO(p.rollup_copy))
                    cur.execute(q.MERGE_6H_WINDOWS)
                self._installed_at(cur, installed)
                cur.execute(_LEDGER, ledger_row(batch_id, len(p.t_ns), stored))
                return stored

        try:
            stored = writer._with_retry(work)
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.DeadlockDetected):
            return None  # a concurrent writer got into the range first: the merging path takes the chunk
        if stored is not None:
            self._mark_installed(installed)
        return stored

    def _coverage(self, writer: Writer, chunk: Chunk) -> tuple[list[int], list[tuple[int, int]]]:
        """What the range already holds: the series that have every minute of it (dropped on their counts alone)
        and, for the others, the (series, minute) they have."""
        bounds = {"a": ts_s(chunk.start), "b": ts_s(math.ceil(chunk.end / 60) * 60)}
        minutes_in_range = (bounds["b"] - ts_s(math.floor(chunk.start / 60) * 60)).total_seconds() // 60

        def occupied(conn):
            with conn.cursor() as cur:
                cur.execute(q.MINUTES_PER_SERIES, bounds)
                counts = {self._code_of[(s, m)]: n for s, m, n in cur.fetchall() if (s, m) in self._code_of}
                full = [c for c, n in counts.items() if n >= minutes_in_range]  # every minute of the range
                partial = sorted({self.sim.series[c][0] for c in counts if c not in full})
                taken = []
                if partial:
                    cur.execute(q.MINUTES_IN_RANGE, {**bounds, "sensors": partial})
                    taken = [(self._code_of[(s, m)], t // 60) for s, m, t in cur.fetchall() if (s, m) in self._code_of]
                return full, taken

        return writer._with_retry(occupied)

    def _merge(self, writer: Writer, p: Prepared, coverage) -> int:
        """The range already holds readings: leave out the minutes a series already has, merge the rest."""
        minute = p.t_ns // 60_000_000_000
        full, taken = coverage
        keys = p.codes.astype(np.int64) * 10**12 + minute
        keep = ~np.isin(p.codes, np.array(full, dtype=np.int32))
        if taken:
            keep &= ~np.isin(keys, np.array([c * 10**12 + m for c, m in taken], dtype=np.int64))
        if not keep.any():
            return 0
        codes = p.codes[keep]
        frame = pd.DataFrame(
            {
                "time": pd.to_datetime(p.t_ns[keep], unit="ns", utc=True),
                "sensor_id": [self.sim.series[c][0] for c in codes],
                "metric": [self.sim.series[c][1] for c in codes],
                "value": p.values[keep],
                "status": np.array(STATUSES, dtype=object)[p.status[keep]],
            }
        )
        stored = writer.commit(Batch(frame, [], len(frame), "backfill")).stored
        installed = self._installed_rows(codes, p.t_ns[keep])

        def work(conn):
            with conn.cursor() as cur:
                self._installed_at(cur, installed)

        writer._with_retry(work)
        self._mark_installed(installed)
        return stored

    def _progress(self, writer: Writer, state: str, phase: str, covered_from: float | None, message="") -> None:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 and self.done else None
        eta = (self.total - self.done) / rate if rate else None
        row = {
            "run_id": self.run_id,
            "state": state,
            "phase": phase,
            "range_start": ts_s(self.chunks[-1].start if self.chunks else self.end),
            "range_end": ts_s(self.end),
            "readings_total": self.total,
            "readings_done": self.done,
            "stored": self.stored,
            "covered_from": None if covered_from is None else ts_s(covered_from),
            "eta_s": eta if state == "running" else None,
            "rate": rate,
            "finished_at": None if state == "running" else datetime.now(UTC),
            "message": message[:500],
        }

        def work(conn):
            with conn.cursor() as cur:
                cur.execute(q.PROGRESS_UPSERT, row)

        try:
            writer._with_retry(work)
        except psycopg2.Error as exc:  # progress is for people: never a reason to stop writing history
            log.warning("backfill progress not recorded: %s", str(exc).strip())
        if self.out and state == "running":
            pct = 100.0 * self.done / self.total if self.total else 100.0
            covered = "" if covered_from is None else f", complete from {local_text(covered_from)}"
            self.out(
                f"backfill {pct:5.1f}%  {self.done:,}/{self.total:,} readings, {self.stored:,} new, "
                f"{rate or 0:,.0f} readings/s, ETA {eta or 0:.0f}s ({phase}{covered})"
            )

    def _write_chunk(self, chunk: Chunk, thresholds: np.ndarray) -> tuple[int, int, bool] | None:
        """Prepare and write one chunk on this worker thread's own connection: (readings, stored, fast)."""
        if self.stop.is_set():
            return None
        writer = getattr(self._local, "writer", None)
        if writer is None:
            writer = self._local.writer = Writer(self.dsn, processor="backfill", retries=self.retries, stop=self.stop)
            self._writers.append(writer)
            writer._with_retry(lower_backend_priority)
        expected = self._expected_rows(chunk)
        if not self._range_holds_readings(writer, chunk):
            p = self.encoder.prepare(chunk, thresholds)
            stored = self._fast(writer, p, writer.next_batch_id())
            if stored is not None:
                return len(p.t_ns), stored, True
        coverage = self._coverage(writer, chunk)
        if len(coverage[0]) == len(self.sim.series):  # all there already (a restart): nothing to generate
            return expected, 0, False
        return expected, self._merge(writer, self.encoder.prepare(chunk, thresholds, encode=False), coverage), False

    def _cancel(self, pending) -> None:
        for future in pending:
            future.cancel()  # not started yet: never will
        for worker in list(self._writers):
            conn = worker._conn
            if conn is not None and not conn.closed:
                conn.cancel()  # thread-safe in libpq: the running statement ends with QueryCanceled

    def _range_holds_readings(self, writer: Writer, chunk: Chunk) -> bool:
        """Any reading up to the end of the chunk's last minute (a minute with live readings gets none from here)."""
        bounds = {"a": ts_s(chunk.start), "b": ts_s(math.ceil(chunk.end / 60) * 60)}

        def work(conn):
            with conn.cursor() as cur:
                cur.execute(q.RAW_IN_RANGE, bounds)
                return bool(cur.fetchone()[0])

        return writer._with_retry(work)

    def run(self) -> BackfillResult:
        """Write every chunk, `jobs` at a time (each worker its own connection: the database uses both cores while
        the next chunk is generated), newest first; then the historic alerts."""
        self.started = time.monotonic()
        fast = merged = alerts = 0
        alerts_started = None
        self._local, self._writers = threading.local(), []
        with Writer(self.dsn, processor="backfill", retries=self.retries, stop=self.stop) as writer:
            writer._with_retry(lower_backend_priority)  # it runs the historic alerts: a long statement
            self.installed = self._installed(writer)
            thresholds = self._thresholds(writer)
            self._prepare_chunks(writer)
            self._progress(writer, "running", self.chunks[0].phase if self.chunks else "", None)
            covered = None
            state, message = "running", ""
            try:
                with ThreadPoolExecutor(self.jobs, thread_name_prefix="backfill") as pool:
                    futures = [pool.submit(self._write_chunk, c, thresholds) for c in self.chunks]
                    index = {f: i for i, f in enumerate(futures)}
                    finished = [False] * len(self.chunks)
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                        if self.stop.is_set() and pending:
                            self._cancel(pending)  # Ctrl-C / SIGTERM: end the statements running now
                        for future in done:
                            if future.cancelled():
                                continue
                            try:
                                outcome = future.result()
                            except psycopg2.Error:
                                if self.stop.is_set():
                                    continue  # cancelled on the way out; its transaction rolled back
                                raise
                            if outcome is None:
                                continue
                            i = index[future]
                            readings, stored, was_fast = outcome
                            fast, merged = fast + was_fast, merged + (not was_fast)
                            self.done += readings
                            self.stored += stored
                            finished[i] = True
                            newest_done = next((k for k, f in enumerate(finished) if not f), len(finished))
                            covered = self.chunks[newest_done - 1].start if newest_done else None
                            self._progress(writer, "running", self.chunks[i].phase, covered)
                if self.stop.is_set():
                    state, message = "stopped", "stopped before the end"
                if state == "running" and self.alerts and self.chunks:
                    self._progress(writer, "running", "alerts", covered)
                    alerts_started = time.monotonic()
                    alerts = self._historic_alerts()
                state = "done" if state == "running" else state
            except BaseException as exc:
                self._progress(writer, "failed", "", covered, str(exc).strip() or type(exc).__name__)
                raise
            finally:
                for worker in self._writers:
                    worker.close()
            self._progress(writer, state, "", covered, message)
        now = time.monotonic()
        alerts_s = 0.0 if alerts_started is None else now - alerts_started
        return BackfillResult(self.done, self.stored, fast, merged, now - self.started, alerts, state, alerts_s)

    def _prepare_chunks(self, writer: Writer) -> None:
        """TimescaleDB's chunks of the range made ahead (migration 0016), a year per call: the function refuses more
        in one transaction, and a backfill may span several years."""
        if not self.chunks:
            return
        a = self.chunks[-1].start
        while a < self.end:
            bounds = {"a": ts_s(a), "b": ts_s(min(a + q.PREPARE_CHUNKS_MAX_S, self.end))}
            writer._with_retry(lambda conn, bounds=bounds: conn.cursor().execute(q.PREPARE_CHUNKS, bounds))
            a += q.PREPARE_CHUNKS_MAX_S

    def _historic_alerts(self) -> int:
        """The alerts of the backfilled range, `jobs` sensor sets at a time on their own connections (the chunks are
        written: the cores are free; every episode belongs to one sensor, so the sets never meet)."""
        from ingestion.alerts_history import evaluate_history

        bounds = {"start": ts_s(self.chunks[-1].start), "end": ts_s(self.end)}
        sensors = sorted(self.installed)
        parts = [sensors[k :: self.jobs] for k in range(self.jobs)] if sensors else [None]

        def part(ids: list[str] | None) -> int:
            with Writer(self.dsn, processor="backfill", retries=self.retries, stop=self.stop) as worker:
                worker._with_retry(lower_backend_priority)
                # the anomaly rules need >= 10 readings per 5 minutes: at a coarser step they cannot hold
                return worker._with_retry(
                    lambda conn: evaluate_history(conn, **bounds, anomalies=self.step_s <= 30, sensors=ids)
                )

        with ThreadPoolExecutor(len(parts), thread_name_prefix="backfill-alerts") as pool:
            return sum(pool.map(part, parts))

    def _installed(self, writer: Writer) -> dict[str, int]:
        def work(conn):
            with conn.cursor() as cur:
                cur.execute(q.SENSORS_INSTALLED)
                return {s: int(pd.Timestamp(t).value) for s, t in cur.fetchall()}

        return writer._with_retry(work)
