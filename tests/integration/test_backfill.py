"""The backfill (ingestion/backfill.py) against an independent expectation: the same readings written through the
writer (whose windows are computed in SQL) must give the same tables; a second run adds nothing; live minutes are
left alone; sensor_latest never moves backwards; installed_at is never after a sensor's first reading."""

from __future__ import annotations

import io
import os
import threading
from datetime import UTC, datetime

import pandas as pd
import psycopg2
import pytest

from ingestion.backfill import Backfill
from ingestion.backfill_plan import plan
from ingestion.simulator import Simulator
from ingestion.writer import Batch, Writer
from tests.support import rollups

END = datetime(2026, 11, 22, 15, 20, 30, tzinfo=UTC).timestamp()  # not on a minute: the newest chunk is partial
SPAN_S = 3 * 3600 + 600


def table(url: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


RAW = "SELECT time, sensor_id, metric, value, status FROM sensor_data ORDER BY sensor_id, metric, time"
AGG = """SELECT sensor_id, metric, window_start, window_end, count, n_warning, n_critical, n_fault, min, max,
                avg, coalesce(stddev, -1), sum_value, sum_sq
           FROM sensor_data_agg ORDER BY sensor_id, metric, window_start, window_end"""
LATEST = "SELECT sensor_id, metric, time, value, status FROM sensor_latest ORDER BY 1, 2"


def same_windows(url: str, reference: str) -> None:
    """Keys, counts, min and max exactly; sums, mean and stddev to float rounding (summation order differs). The
    1-minute / 5-minute / 1-hour windows, and the 6-hour rollup (sensor_data_agg_6h) both against the reference and
    against its recomputation from the readings stored."""
    got, expected = table(url, AGG), table(reference, AGG)
    assert [row[:10] for row in got] == [row[:10] for row in expected]
    for a, b in zip(got, expected, strict=True):
        assert a[10:] == pytest.approx(b[10:], rel=1e-9, abs=1e-5), a[:4]
    rollups.same_windows(table(url, rollups.ROLLUP_6H), table(reference, rollups.ROLLUP_6H))
    conn = psycopg2.connect(url)
    try:
        rollups.assert_rollup_matches_readings(conn)
    finally:
        conn.close()


def through_writer(url: str, start: float, end: float, step_s: float = 60.0) -> int:
    stored = 0
    with Writer(url, processor="reference") as writer:
        for frame in Simulator(seed=42).history(start, end, step_s=step_s):
            stored += writer.commit(Batch(frame, [], len(frame), "reference")).stored
    return stored


def test_plan_is_newest_first_contiguous_and_phased():
    chunks = plan(END, 7 * 86400, 60.0, 231)
    assert chunks[0].end == END and chunks[0].phase == "last_hour"
    assert all(a.start == b.end for a, b in zip(chunks, chunks[1:], strict=False))  # newest first, no overlap
    assert chunks[-1].start == (END - 7 * 86400) // 3600 * 3600  # whole first hour
    assert [c.phase for c in chunks] == sorted((c.phase for c in chunks), key=["last_hour", "last_24h", "older"].index)
    hour = [c for c in chunks if c.phase == "last_hour"]
    assert hour[-1].start == (END - 3600) // 60 * 60
    day = [c for c in chunks if c.phase != "older"]
    assert day[-1].start == (END - 86400) // 60 * 60
    assert max(c.end - c.start for c in chunks) == 86400  # 1,440 instants x 231 series <= 600k rows


def test_backfill_equals_the_writer_on_the_same_readings(pg_cluster, db_url):
    result = Backfill(db_url, span_s=SPAN_S, end=END, out=None, alerts=False).run()
    assert result.fast_chunks >= 2 and result.merged_chunks == 0
    reference = pg_cluster.url(pg_cluster.fresh_database())
    start = plan(END, SPAN_S, 60.0, 1)[-1].start
    expected = through_writer(reference, start, END)
    assert result.stored == result.readings == expected
    assert table(db_url, RAW) == table(reference, RAW)
    same_windows(db_url, reference)
    assert table(db_url, LATEST) == table(reference, LATEST)
    progress = table(db_url, "SELECT state, readings_total, readings_done, stored FROM backfill_progress")
    assert progress == [("done", expected, expected, expected)]
    ledger = table(db_url, "SELECT sum(received), sum(stored) FROM ingest_ledger WHERE processor = 'backfill'")
    assert ledger == [(expected, expected)]


def test_a_second_run_adds_nothing(db_url):
    Backfill(db_url, span_s=SPAN_S, end=END, out=None, alerts=False).run()
    raw, agg, agg6 = table(db_url, RAW), table(db_url, AGG), table(db_url, rollups.ROLLUP_6H)
    again = Backfill(db_url, span_s=SPAN_S, end=END, out=None, alerts=False).run()
    assert again.stored == 0 and again.fast_chunks == 0
    assert table(db_url, RAW) == raw and table(db_url, AGG) == agg and table(db_url, rollups.ROLLUP_6H) == agg6


def test_live_minutes_are_left_alone_and_latest_never_goes_back(pg_cluster, db_url):
    """Live readings every second in two minutes inside the range and 10 s after its end: the backfill adds no
    reading to those minutes, merges its windows around them, and leaves sensor_latest on the live reading."""
    live_spans = ((END - 7200, END - 7080), (END + 0.0, END + 10.0))
    for a, b in live_spans:
        through_writer(db_url, a, b, step_s=1.0)
    latest_before = table(db_url, LATEST)
    result = Backfill(db_url, span_s=SPAN_S, end=END, out=None, alerts=False).run()
    assert result.merged_chunks >= 1
    assert table(db_url, LATEST) == latest_before  # every key had a newer live reading

    # independent expectation: live readings, plus the backfill's grid readings outside the live minutes
    reference = pg_cluster.url(pg_cluster.fresh_database())
    for a, b in live_spans:
        through_writer(reference, a, b, step_s=1.0)
    start = plan(END, SPAN_S, 60.0, 1)[-1].start
    live_minutes = {int(t // 60) for a, b in live_spans for t in range(int(a // 60) * 60, int(b) + 1, 60)}
    with Writer(reference, processor="reference") as writer:
        for frame in Simulator(seed=42).history(start, END, step_s=60.0):
            minutes = frame["time"].astype("int64") // 60_000_000_000
            rest = frame[~minutes.isin(live_minutes)]
            writer.commit(Batch(rest, [], len(rest), "reference"))
    assert table(db_url, RAW) == table(reference, RAW)
    same_windows(db_url, reference)


def test_installed_at_is_never_after_the_first_reading(db_url, conn):
    Backfill(db_url, span_s=3600, end=END, out=None, alerts=False).run()
    with conn.cursor() as cur:
        cur.execute(
            """SELECT s.sensor_id, s.installed_at, min(d.time)
                 FROM sensors s JOIN sensor_data d USING (sensor_id) GROUP BY 1, 2"""
        )
        rows = cur.fetchall()
    assert len(rows) == 60
    assert all(installed == first for _, installed, first in rows)


@pytest.mark.parametrize("days", [0.5])
def test_progress_lines_say_percent_eta_and_what_is_complete(db_url, days):
    lines: list[str] = []
    Backfill(db_url, span_s=days * 86400, end=END, out=lines.append, alerts=False).run()
    assert len(lines) >= 3
    assert lines[-1].startswith("backfill 100.0%")
    assert all("ETA" in line and "readings/s" in line for line in lines)
    # two workers: a line may come from an older chunk before the newer one is done; the last one is complete
    assert "complete from" in lines[-1]


def test_a_stop_ends_the_run_early_and_says_so(db_url):
    """Ctrl-C / SIGTERM (the stop event): the statements running are cancelled, nothing half-written stays
    (each chunk is one transaction), the progress row says 'stopped' and a second run completes the range."""
    stop = threading.Event()
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:  # after the first chunk
            stop.set()

    job = Backfill(db_url, span_s=2 * 86400, end=END, out=out, alerts=False, stop=stop)
    first = job.run()
    assert first.stored < job.total and first.state == "stopped"
    assert table(db_url, "SELECT state FROM backfill_progress") == [("stopped",)]
    stored = table(db_url, "SELECT count(*) FROM sensor_data")[0][0]
    assert stored == first.stored  # whole chunks only
    again = Backfill(db_url, span_s=2 * 86400, end=END, out=None, alerts=False).run()
    assert stored + again.stored == again.readings
    # each reading stored exactly once and counted once in each of its windows, against what the simulator sends
    start = plan(END, 2 * 86400, 60.0, 1)[-1].start
    sent = sum(len(frame) for frame in Simulator(seed=42).history(start, END, step_s=60.0))
    assert table(db_url, "SELECT count(*) FROM sensor_data") == [(sent,)]
    per_window = table(
        db_url,
        "SELECT extract(epoch FROM window_end - window_start)::int, sum(count) FROM sensor_data_agg GROUP BY 1 ORDER BY 1",
    )
    assert per_window == [(60, sent), (300, 5 * sent), (3600, sent)]  # a reading is in 5 sliding 5-minute windows


def test_the_backfill_backend_yields_the_cpu(db_url):
    """The embedded server runs on this machine: the backfill's backend gets the backfill's niceness."""
    from ingestion.backfill_plan import NICENESS, lower_backend_priority

    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        assert os.getpriority(os.PRIO_PROCESS, pid) < NICENESS
        lower_backend_priority(conn)
        assert os.getpriority(os.PRIO_PROCESS, pid) == NICENESS
    finally:
        conn.close()


def test_older_readings_do_not_lock_what_the_live_writer_advances(db_url):
    """The cause of "0/60 online" during the old backfill: its sensor_latest upsert locked every row it met (ON
    CONFLICT DO UPDATE locks even when its WHERE is false), so the live writer waited for the whole backfill
    transaction. Now a transaction writing OLDER readings holds no lock on those rows: a live write of newer readings
    of the same series, meanwhile, completes at once (lock_timeout 2 s would fail it otherwise)."""
    from ingestion.writer import _Staged
    from ingestion.writer_sql import _COPY, _MERGE, _STAGING_DDL

    sim = Simulator(seed=42)
    newest = next(sim.history(END - 60, END, step_s=60.0))
    through_writer(db_url, END - 60, END)  # sensor_latest at END - 60 for every series
    older = next(sim.history(END - 7200, END - 3600, step_s=60.0))
    live = newest.assign(time=newest["time"] + pd.Timedelta(seconds=90))

    def connect():
        conn = psycopg2.connect(db_url)
        with conn.cursor() as cur:
            cur.execute(_STAGING_DDL)
        conn.commit()
        return conn

    backfill, writer = connect(), connect()
    try:
        with backfill.cursor() as cur:  # the merging path of the backfill, its transaction left open
            cur.copy_expert(_COPY, io.BytesIO(_Staged(older).payload))
            cur.execute(_MERGE)
        with writer.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
            cur.copy_expert(_COPY, io.BytesIO(_Staged(live).payload))
            cur.execute(_MERGE)
            assert cur.fetchone()[2] == len(live)  # every sensor_latest row advanced
        writer.commit()
        backfill.commit()
    finally:
        backfill.close()
        writer.close()
    assert {t for (_, _, t, _, _) in table(db_url, LATEST)} == {live["time"].iloc[0].to_pydatetime()}
