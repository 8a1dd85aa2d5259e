"""The SQL of the backfill (ingestion/backfill.py). Staging tables are session-temporary and filled with binary
COPY; the series table maps the simulator's series codes to (sensor_id, metric) once per session."""

from __future__ import annotations

from ingestion.writer_sql import AGG_6H_INSERT, AGG_6H_MERGE, AGG_6H_ORIGIN, AGG_MERGE

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS backfill_series (
    code integer PRIMARY KEY, sensor_id text NOT NULL, metric text NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS backfill_readings (
    time timestamptz NOT NULL, code integer NOT NULL, value double precision NOT NULL, status smallint NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS backfill_windows (
    window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, code integer NOT NULL,
    avg double precision NOT NULL, min double precision NOT NULL, max double precision NOT NULL,
    count bigint NOT NULL, stddev double precision NOT NULL, n_warning integer NOT NULL,
    n_critical integer NOT NULL, n_fault integer NOT NULL, sum_value double precision NOT NULL,
    sum_sq double precision NOT NULL, internal boolean NOT NULL
) ON COMMIT DELETE ROWS;
"""
SERIES_COUNT = "SELECT count(*) FROM backfill_series"
SERIES_FILL = "INSERT INTO backfill_series (code, sensor_id, metric) VALUES %s"

COPY_READINGS = "COPY backfill_readings (time, code, value, status) FROM STDIN WITH (FORMAT binary)"
COPY_WINDOWS = (
    "COPY backfill_windows (window_start, window_end, code, avg, min, max, count, stddev, n_warning, n_critical,"
    " n_fault, sum_value, sum_sq, internal) FROM STDIN WITH (FORMAT binary)"
)

_STATUS_TEXT = "(ARRAY['ok', 'warning', 'critical', 'fault'])[r.status + 1]"

# A chunk whose range held nothing: plain inserts, no speculative insertion (the unique indexes still guard: a
# concurrent writer that got there first makes this fail with a unique violation, and the chunk is redone on the
# merging path).
INSERT_READINGS = f"""
INSERT INTO sensor_data (time, sensor_id, metric, value, status, ingested_at)
SELECT r.time, s.sensor_id, s.metric, r.value, {_STATUS_TEXT}, now()
  FROM backfill_readings r JOIN backfill_series s USING (code)
"""

_WINDOW_SELECT = """
SELECT w.window_start, w.window_end, s.sensor_id, s.metric, w.avg, w.min, w.max, w.count,
       CASE WHEN w.count > 1 THEN w.stddev END, w.n_warning, w.n_critical, w.n_fault, w.sum_value, w.sum_sq, now()
  FROM backfill_windows w JOIN backfill_series s USING (code)
"""
_WINDOW_INSERT = """
INSERT INTO sensor_data_agg AS a (window_start, window_end, sensor_id, metric, avg, min, max, count, stddev,
                                  n_warning, n_critical, n_fault, sum_value, sum_sq, updated_at)
"""
INSERT_WINDOWS = _WINDOW_INSERT + _WINDOW_SELECT + " WHERE w.internal"
# Rows locked in key order (as the writer does), so that two writers merging the same windows wait, never deadlock.
MERGE_EDGE_WINDOWS = (
    _WINDOW_INSERT + _WINDOW_SELECT + " WHERE NOT w.internal ORDER BY s.sensor_id, s.metric, w.window_start,"
    " w.window_end\n" + AGG_MERGE
)
# The chunk's share of each 6-hour window (sensor_data_agg_6h): the sum of its 1-hour windows, edge hours included
# (each holds exactly the chunk's readings of that hour), merged additively like every window the chunk touches, in
# lane 1 (older readings: never the live writer's row).
MERGE_6H_WINDOWS = f"""
{AGG_6H_INSERT}
SELECT h.w, h.w + interval '6 hours', s.sensor_id, s.metric, 1, h.sv / h.n, h.lo, h.hi, h.n,
       CASE WHEN h.n > 1 THEN sqrt(greatest(0, (h.ss - h.sv ^ 2 / h.n) / (h.n - 1))) END,
       h.nw, h.nc, h.nf, h.sv, h.ss, now()
  FROM (SELECT date_bin(interval '6 hours', w.window_start, {AGG_6H_ORIGIN}) AS w, w.code, sum(w.count) AS n,
               sum(w.sum_value) AS sv, sum(w.sum_sq) AS ss, min(w.min) AS lo, max(w.max) AS hi,
               sum(w.n_warning) AS nw, sum(w.n_critical) AS nc, sum(w.n_fault) AS nf
          FROM backfill_windows w
         WHERE w.window_end - w.window_start = interval '1 hour'
         GROUP BY 1, 2) h
  JOIN backfill_series s USING (code)
 ORDER BY s.sensor_id, s.metric, h.w
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
