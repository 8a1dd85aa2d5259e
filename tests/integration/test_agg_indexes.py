"""The aggregate table's indexes after migrations 0015 and 0016, on both branches.

- Every read of 1-hour windows (the pages' SQL files, with the size as psycopg2 sends it: a literal the planner folds)
  is served by the partial index on the hourly windows: if the predicate were not proven (a size sent as a
  server-side parameter, a query rewritten), the read would fall back to the primary key over 120 windows per hour.
- madinina_prepare_chunks creates the range's chunks on TimescaleDB, leaves no row behind, runs as the ingestion
  role, and after it two backfill transactions writing new hours no longer wait for each other (they did: chunk
  creation holds a lock on the hypertable until the creating transaction ends).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import sqlalchemy as sa

from data_access.engine import make_engine
from data_access.queries import SQL_DIR
from ingestion.backfill import Backfill

END = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
SENSOR = "mq-fdf-wx-01"
AGG_AND_RAW_INDEXES = [
    "sensor_data_agg_hourly_idx",
    "sensor_data_agg_pkey",
    "sensor_data_agg_window_start_brin",
    "sensor_data_ingested_brin",
    "sensor_data_pkey",
    "sensor_data_time_idx",
]
HOURLY_READS = (
    "agg_series",
    "trends_series_agg",
    "map_replay_frames",
    "sensor_step",
    "sensor_status_shares_agg",
    "sensor_battery_hourly",
)


def plans(url: str, name: str, params: dict) -> str:
    """EXPLAIN of data_access/sql/<name>.sql as the dashboard sends it (SQLAlchemy text over psycopg2)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))  # a tiny table: only whether the index is usable
            text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
            rows = conn.execute(sa.text("EXPLAIN " + text), params).fetchall()
            return "\n".join(r[0] for r in rows)
    finally:
        engine.dispose()


def test_hourly_reads_use_the_partial_index(db_url):
    """Each file in turn on one 2-day backfill (one database per branch: a backfill each would cost a minute)."""
    Backfill(db_url, span_s=2 * 86400, end=END.timestamp(), out=None, alerts=False).run()
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE sensor_data_agg")
    conn.close()
    params = {
        "metric": "temperature",
        "metrics": ["temperature"],
        "sensor_ids": [SENSOR],
        "sensor_id": SENSOR,
        "start": END - timedelta(days=2),
        "end": END,
        "origin": datetime(2026, 11, 1, 4, tzinfo=UTC),
        "window_s": 3600,
        "base_window_s": 3600,
        "step_s": 3600,
    }
    for name in HOURLY_READS:
        assert "sensor_data_agg_hourly_idx" in plans(db_url, name, params), name
        if re.search(r":(base_)?window_s\b", (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")):
            # the same read of 1-minute windows cannot use it (the index holds none): the primary key serves it
            minute = plans(db_url, name, {**params, "window_s": 60, "base_window_s": 60, "step_s": 60})
            assert "sensor_data_agg_hourly_idx" not in minute and "pkey" in minute, name


def test_both_branches_have_the_same_indexes(conn):
    """0005's series index gone, the hourly one partial, and on TimescaleDB no default (window_start DESC) btree."""
    with conn.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('sensor_data', 'sensor_data_agg')")
        indexes = dict(cur.fetchall())
    assert sorted(indexes) == AGG_AND_RAW_INDEXES
    assert "WHERE ((window_end - window_start) = '01:00:00'::interval)" in indexes["sensor_data_agg_hourly_idx"]


def chunks(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM show_chunks(%s)", (table,))
        return cur.fetchone()[0]


def test_prepare_chunks_creates_the_range_and_leaves_no_row(pg_cluster, db_name, conn):
    writer = psycopg2.connect(pg_cluster.url(db_name, "madinina_writer"))
    try:
        with writer.cursor() as cur:  # the ingestion role may run it, and it has no DELETE of its own
            cur.execute("SELECT madinina_prepare_chunks(%s, %s)", (END - timedelta(days=2), END))
            hours = cur.fetchone()[0]
            cur.execute("SELECT has_table_privilege('sensor_data', 'DELETE')")
            assert cur.fetchone() == (False,)
        writer.commit()
    finally:
        writer.close()
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM sensor_data), (SELECT count(*) FROM sensor_data_agg)")
        assert cur.fetchone() == (0, 0)
    timescale = pg_cluster.server.uses_timescaledb
    if timescale:
        assert hours == 49  # every hour of the range, both ends included
        assert chunks(conn, "sensor_data") == 8 + 1  # 6-hour raw chunks: 2 days = 8, plus the one END opens
        assert chunks(conn, "sensor_data_agg") >= 1
    else:
        assert hours == 0


def write_two_slices_at_once(url: str, end: datetime) -> None:
    """Two transactions, each inserting a reading in a 6-hour slice of its own, the first left open meanwhile."""
    first, second = psycopg2.connect(url), psycopg2.connect(url)
    insert = f"INSERT INTO sensor_data (time, sensor_id, metric, value) VALUES (%s, '{SENSOR}', 'temperature', 27)"
    try:
        with first.cursor() as cur:
            cur.execute(insert, (end - timedelta(hours=11),))
        with second.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
            cur.execute(insert, (end - timedelta(hours=5),))
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()


def test_prepared_chunks_let_two_backfill_transactions_write_at_once(pg_cluster, db_url, conn):
    """On TimescaleDB the second transaction waited for the first to commit (it creates a chunk too); after
    madinina_prepare_chunks over the range it does not (lock_timeout fails it otherwise)."""
    if pg_cluster.server.uses_timescaledb:  # the premise, on a range not prepared: the second one waits
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            write_two_slices_at_once(db_url, END - timedelta(days=3))
    with conn.cursor() as cur:
        cur.execute("SELECT madinina_prepare_chunks(%s, %s)", (END - timedelta(hours=12), END))
    write_two_slices_at_once(db_url, END)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data WHERE time > %s", (END - timedelta(hours=12),))
        assert cur.fetchone() == (2,)


def test_a_backfill_over_more_than_a_year_prepares_its_chunks(pg_cluster, db_url, conn):
    """madinina_prepare_chunks refuses more than 366 days in one call; the backfill calls it a year at a time."""
    from ingestion.writer import Writer

    job = Backfill(db_url, span_s=400 * 86400, end=END.timestamp(), out=None)
    with Writer(db_url, processor="backfill") as writer:
        job._prepare_chunks(writer)
    if pg_cluster.server.uses_timescaledb:
        assert chunks(conn, "sensor_data") >= 400 * 4  # 6-hour raw chunks over the whole span
