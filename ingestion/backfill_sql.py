"""The SQL of the backfill (ingestion/backfill.py). A chunk's readings and inner windows are COPYed (binary)
straight into sensor_data and sensor_data_agg; the windows reaching outside the chunk go through a
session-temporary staging table and are merged as the writer merges."""

from __future__ import annotations

from ingestion.writer_sql import AGG_6H_INSERT, AGG_6H_MERGE, AGG_MERGE

_WINDOW_COLUMNS = (
    "window_start, window_end, sensor_id, metric, avg, min, max, count, stddev, n_warning, n_critical, n_fault,"
    " sum_value, sum_sq"
)
# ingested_at / updated_at take their default, now(): the commit clock the archives read.
COPY_READINGS = "COPY sensor_data (time, sensor_id, metric, value, status) FROM STDIN WITH (FORMAT binary)"
COPY_WINDOWS = f"COPY sensor_data_agg ({_WINDOW_COLUMNS}) FROM STDIN WITH (FORMAT binary)"

EDGES_DDL = """
CREATE TEMP TABLE IF NOT EXISTS backfill_edges (
    window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, sensor_id text NOT NULL,
    metric text NOT NULL, avg double precision NOT NULL, min double precision NOT NULL,
    max double precision NOT NULL, count bigint NOT NULL, stddev double precision, n_warning integer NOT NULL,
    n_critical integer NOT NULL, n_fault integer NOT NULL, sum_value double precision NOT NULL,
    sum_sq double precision NOT NULL
) ON COMMIT DELETE ROWS
"""
COPY_EDGES = f"COPY backfill_edges ({_WINDOW_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
# Rows locked in key order (as the writer does), so that two writers merging the same windows wait, never deadlock.
MERGE_EDGE_WINDOWS = f"""
INSERT INTO sensor_data_agg AS a ({_WINDOW_COLUMNS}, updated_at)
SELECT {_WINDOW_COLUMNS}, now()
  FROM backfill_edges
 ORDER BY sensor_id, metric, window_start, window_end
{AGG_MERGE}
"""
# The chunk's share of each 6-hour window of sensor_data_agg_6h (migration 0013), computed in memory from its
# readings (backfill_windows.rollup_6h). Always merged additively: a 6-hour window on a Martinique midnight holds
# other chunks' hours too (a day chunk on the epoch grid cuts two of them), and a day has ~1,000 such rows. Lane 1
# (older readings: never the live writer's row, which it may advance meanwhile), after sensor_data_agg and in key
# order, as every writer.
ROLLUP_6H_DDL = EDGES_DDL.replace("backfill_edges", "backfill_6h")
COPY_ROLLUP_6H = COPY_EDGES.replace("backfill_edges", "backfill_6h")
MERGE_6H_WINDOWS = f"""
{AGG_6H_INSERT}
SELECT window_start, window_end, sensor_id, metric, 1, avg, min, max, count, stddev, n_warning, n_critical, n_fault,
       sum_value, sum_sq, now()
  FROM backfill_6h
 ORDER BY sensor_id, metric, window_start
{AGG_6H_MERGE}
"""

# sensor_latest only where the backfill has something newer (never backwards, and no lock on the other rows).
LATEST = """
INSERT INTO sensor_latest AS l (sensor_id, metric, time, value, status, ingested_at)
SELECT v.sensor_id, v.metric, v.time, v.value, v.status, now()
  FROM (VALUES %s) AS v (sensor_id, metric, time, value, status)
 WHERE NOT EXISTS (SELECT 1 FROM sensor_latest x
                    WHERE x.sensor_id = v.sensor_id AND x.metric = v.metric AND x.time >= v.time)
 ORDER BY v.sensor_id, v.metric
ON CONFLICT (sensor_id, metric) DO UPDATE
   SET time = excluded.time, value = excluded.value, status = excluded.status, ingested_at = excluded.ingested_at
 WHERE excluded.time > l.time
"""

# installed_at is never after a sensor's first stored reading (docs/architecture.md).
INSTALLED_AT = """
UPDATE sensors s SET installed_at = v.first
  FROM (SELECT * FROM (VALUES %s) AS x (sensor_id, first) ORDER BY sensor_id) AS v
 WHERE s.sensor_id = v.sensor_id AND s.installed_at > v.first
"""
SENSORS_INSTALLED = "SELECT sensor_id, installed_at FROM sensors"

THRESHOLDS = "SELECT metric, warn_low, warn_high, crit_low, crit_high FROM metrics"

# TimescaleDB: the range's chunks created up front, so that the workers never wait for each other's chunk creation
# (migration 0016); nothing on plain PostgreSQL.
PREPARE_CHUNKS = "SELECT madinina_prepare_chunks(%(a)s, %(b)s)"
PREPARE_CHUNKS_MAX_S = 365 * 86400  # the function refuses more than 366 days at once

# What a chunk's range already holds: any raw reading at all, and the minutes each series already has.
RAW_IN_RANGE = "SELECT EXISTS (SELECT 1 FROM sensor_data WHERE time >= %(a)s AND time < %(b)s)"
MINUTES_PER_SERIES = """
SELECT sensor_id, metric, count(*)
  FROM sensor_data_agg
 WHERE window_end - window_start = interval '1 minute' AND window_start >= %(a)s AND window_start < %(b)s
 GROUP BY 1, 2
"""
MINUTES_IN_RANGE = """
SELECT sensor_id, metric, EXTRACT(EPOCH FROM window_start)::bigint
  FROM sensor_data_agg
 WHERE window_end - window_start = interval '1 minute' AND window_start >= %(a)s AND window_start < %(b)s
   AND sensor_id = ANY(%(sensors)s)
"""

PROGRESS_UPSERT = """
INSERT INTO backfill_progress AS p (run_id, state, phase, range_start, range_end, readings_total, readings_done,
                                    stored, covered_from, eta_s, rate, updated_at, finished_at, message)
VALUES (%(run_id)s, %(state)s, %(phase)s, %(range_start)s, %(range_end)s, %(readings_total)s, %(readings_done)s,
        %(stored)s, %(covered_from)s, %(eta_s)s, %(rate)s, now(), %(finished_at)s, %(message)s)
ON CONFLICT (run_id) DO UPDATE
   SET state = excluded.state, phase = excluded.phase, readings_done = excluded.readings_done,
       stored = excluded.stored, covered_from = excluded.covered_from, eta_s = excluded.eta_s,
       rate = excluded.rate, updated_at = excluded.updated_at, finished_at = excluded.finished_at,
       message = excluded.message
"""
