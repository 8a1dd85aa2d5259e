"""The SQL of the writer (ingestion/writer.py), kept apart so that each statement reads as the SQL it is. Every
statement works on the session-temporary staging tables the writer fills with COPY; see the writer's docstring
for the transaction they make up together."""

from __future__ import annotations

# (window size, slide) in seconds: 1-minute tumbling, 5-minute sliding every minute, 1-hour tumbling.
WINDOWS: tuple[tuple[int, int], ...] = ((60, 60), (300, 60), (3600, 3600))
# 6-hour tumbling windows, in their own table (migration 0013), aligned on a Martinique midnight like the Trends
# page's buckets (data_access.trends.ORIGIN): 00, 06, 12, 18 h local.
AGG_6H_ORIGIN = "timestamptz '2000-01-01 04:00:00+00'"


def _windows_values(windows: tuple[tuple[int, int], ...] = WINDOWS) -> str:
    rows = [f"({size}, {slide}, {k})" for size, slide in windows for k in range(size // slide)]
    return ", ".join(rows)


_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS staging_readings (
    t_us bigint NOT NULL, sensor_id text NOT NULL, metric text NOT NULL, value double precision NOT NULL,
    status text NOT NULL
) ON COMMIT DELETE ROWS
"""

_COPY = "COPY staging_readings (t_us, sensor_id, metric, value, status) FROM STDIN WITH (FORMAT csv)"

# A window's partial state (count, sums, min, max, status counts) merged into the stored one: additions merge
# exactly, so a late reading or a backfill chunk's edge window joins whatever the window already holds.
AGG_MERGE = """ON CONFLICT (sensor_id, metric, window_start, window_end) DO UPDATE
       SET count = a.count + excluded.count,
           sum_value = a.sum_value + excluded.sum_value,
           sum_sq = a.sum_sq + excluded.sum_sq,
           avg = (a.sum_value + excluded.sum_value) / (a.count + excluded.count),
           min = least(a.min, excluded.min),
           max = greatest(a.max, excluded.max),
           stddev = CASE WHEN a.count + excluded.count > 1 THEN sqrt(greatest(0,
                        ((a.sum_sq + excluded.sum_sq)
                         - (a.sum_value + excluded.sum_value) ^ 2 / (a.count + excluded.count))
                        / (a.count + excluded.count - 1))) END,
           n_warning = a.n_warning + excluded.n_warning,
           n_critical = a.n_critical + excluded.n_critical,
           n_fault = a.n_fault + excluded.n_fault,
           updated_at = excluded.updated_at"""

AGG_6H_INSERT = """INSERT INTO sensor_data_agg_6h AS a (window_start, window_end, sensor_id, metric, lane, avg, min, max,
                                        count, stddev, n_warning, n_critical, n_fault, sum_value, sum_sq, updated_at)"""
# The same additive merge into a 6-hour window's lane (migration 0013: lane 0 = minutes that advance their series,
# lane 1 = older ones, so that the live writer never waits for a backfill's or a late batch's row lock).
AGG_6H_MERGE = AGG_MERGE.replace(
    "(sensor_id, metric, window_start, window_end)", "(sensor_id, metric, window_start, lane)"
)

# One round trip. Every CTE sees only the rows `ins` returns, i.e. readings that were new. Windows are built
# from per-minute partials (count, sum, sum of squares, min, max, status counts all merge exactly), so the
# grouping work is one pass over the batch whatever the number of window kinds.
_MERGE = f"""
WITH ins AS (
    INSERT INTO sensor_data (time, sensor_id, metric, value, status, ingested_at)
    SELECT timestamptz 'epoch' + s.t_us * interval '1 microsecond', s.sensor_id, s.metric, s.value, s.status,
           now()
      FROM staging_readings s
    {{conflict}}
    RETURNING time, sensor_id, metric, value, status
), mins AS (
    SELECT sensor_id, metric, date_bin(interval '1 minute', time, timestamptz 'epoch') AS minute,
           count(*) AS n, sum(value) AS s, sum(value * value) AS ss, min(value) AS lo, max(value) AS hi,
           count(*) FILTER (WHERE status = 'warning') AS nw, count(*) FILTER (WHERE status = 'critical') AS nc,
           count(*) FILTER (WHERE status = 'fault') AS nf, max(time) AS last_time
      FROM ins
     GROUP BY 1, 2, 3
), last AS (
    SELECT sensor_id, metric, max(last_time) AS time FROM mins GROUP BY 1, 2
), latest AS (
    INSERT INTO sensor_latest AS l (sensor_id, metric, time, value, status, ingested_at)
    SELECT i.sensor_id, i.metric, i.time, i.value, i.status, now()
      FROM ins i
      JOIN last USING (sensor_id, metric, time)
     -- ON CONFLICT DO UPDATE locks the row even when its WHERE is false: leave alone the rows this batch does
     -- not advance (a backfill or a late reading), so that it never holds up the live writer on them
     WHERE NOT EXISTS (SELECT 1 FROM sensor_latest x
                        WHERE x.sensor_id = i.sensor_id AND x.metric = i.metric AND x.time > i.time)
     ORDER BY i.sensor_id, i.metric  -- rows locked in key order, sensor_latest before windows: as every writer
    ON CONFLICT (sensor_id, metric) DO UPDATE
       SET time = excluded.time, value = excluded.value, status = excluded.status,
           ingested_at = excluded.ingested_at
     WHERE excluded.time >= l.time
    RETURNING 1
), win (size_s, slide_s, k) AS (
    VALUES {_windows_values()}
), agg AS (
    INSERT INTO sensor_data_agg AS a (window_start, window_end, sensor_id, metric, avg, min, max, count, stddev,
                                      n_warning, n_critical, n_fault, sum_value, sum_sq, updated_at)
    SELECT b.window_start, b.window_start + make_interval(secs => b.size_s), b.sensor_id, b.metric,
           sum(b.s) / sum(b.n), min(b.lo), max(b.hi), sum(b.n),
           CASE WHEN sum(b.n) > 1
                THEN sqrt(greatest(0, (sum(b.ss) - sum(b.s) ^ 2 / sum(b.n)) / (sum(b.n) - 1))) END,
           sum(b.nw), sum(b.nc), sum(b.nf), sum(b.s), sum(b.ss), now()
      FROM (SELECT date_bin(make_interval(secs => w.slide_s), m.minute, timestamptz 'epoch')
                   - make_interval(secs => w.slide_s * w.k) AS window_start,
                   w.size_s, m.sensor_id, m.metric, m.n, m.s, m.ss, m.lo, m.hi, m.nw, m.nc, m.nf
              FROM mins m CROSS JOIN win w) b
     GROUP BY b.window_start, b.size_s, b.sensor_id, b.metric
     ORDER BY b.sensor_id, b.metric, b.window_start, b.size_s  -- key order: no deadlock with the backfill
    {AGG_MERGE}
    RETURNING 1
), agg6 AS (
    {AGG_6H_INSERT}
    SELECT b.window_start, b.window_start + interval '6 hours', b.sensor_id, b.metric, b.lane, sum(b.s) / sum(b.n),
           min(b.lo), max(b.hi), sum(b.n),
           CASE WHEN sum(b.n) > 1
                THEN sqrt(greatest(0, (sum(b.ss) - sum(b.s) ^ 2 / sum(b.n)) / (sum(b.n) - 1))) END,
           sum(b.nw), sum(b.nc), sum(b.nf), sum(b.s), sum(b.ss), now()
      FROM (SELECT date_bin(interval '6 hours', m.minute, {AGG_6H_ORIGIN}) AS window_start, m.sensor_id, m.metric,
                   -- sensor_latest as it was before this statement: a minute before its newest stored minute is
                   -- older data (lane 1), the rest advances the series (lane 0, the live writer's)
                   CASE WHEN m.minute < date_bin(interval '1 minute', l.time, timestamptz 'epoch') THEN 1 ELSE 0 END
                   AS lane, m.n, m.s, m.ss, m.lo, m.hi, m.nw, m.nc, m.nf
              FROM mins m LEFT JOIN sensor_latest l USING (sensor_id, metric)) b
     GROUP BY b.window_start, b.sensor_id, b.metric, b.lane
     ORDER BY b.sensor_id, b.metric, b.window_start, b.lane  -- after sensor_data_agg, in key order, as every writer
    {AGG_6H_MERGE}
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM staging_readings),
       (SELECT count(*) FROM latest), (SELECT count(*) FROM agg), (SELECT count(*) FROM agg6)
"""

# The conflict-free fast path: when every (sensor, metric) of the batch starts after its latest stored reading
# (live data, fresh backfill), no raw row can conflict and a plain INSERT skips speculative insertion (~35 %
# faster measured). sensor_latest always holds the newest time written per key, since every write goes through
# here; a race with another writer surfaces as a unique violation and the batch is retried on the safe path.
_CONFLICT_FREE = """
SELECT NOT EXISTS (
    SELECT 1
      FROM (SELECT sensor_id, metric, min(t_us) AS t_us FROM staging_readings GROUP BY 1, 2) b
      JOIN sensor_latest l USING (sensor_id, metric)
     WHERE timestamptz 'epoch' + b.t_us * interval '1 microsecond' <= l.time)
"""
_MERGE_FAST = _MERGE.replace("{conflict}", "")
_MERGE = _MERGE.replace("{conflict}", "ON CONFLICT DO NOTHING")

# For a processor that computes its windows itself (the Spark job): raw rows and sensor_latest only.
_MERGE_RAW = """
WITH ins AS (
    INSERT INTO sensor_data (time, sensor_id, metric, value, status, ingested_at)
    SELECT timestamptz 'epoch' + s.t_us * interval '1 microsecond', s.sensor_id, s.metric, s.value, s.status,
           now()
      FROM staging_readings s
    ON CONFLICT DO NOTHING
    RETURNING time, sensor_id, metric, value, status
), latest AS (
    INSERT INTO sensor_latest AS l (sensor_id, metric, time, value, status, ingested_at)
    SELECT DISTINCT ON (sensor_id, metric) sensor_id, metric, time, value, status, now()
      FROM ins
     ORDER BY sensor_id, metric, time DESC
    ON CONFLICT (sensor_id, metric) DO UPDATE
       SET time = excluded.time, value = excluded.value, status = excluded.status,
           ingested_at = excluded.ingested_at
     WHERE excluded.time >= l.time
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM staging_readings),
       (SELECT count(*) FROM latest), 0
"""

_QUARANTINE = """
INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint)
SELECT v.received_at, v.source, v.payload, v.reason, v.detail,
       md5(v.reason || E'\\x1f' || v.detail || E'\\x1f' || v.payload)
  FROM (VALUES %s) AS v (received_at, source, payload, reason, detail)
ON CONFLICT (fingerprint) DO NOTHING
RETURNING 1
"""
_LEDGER = """
INSERT INTO ingest_ledger (batch_id, processor, source, spool_id, first_seq, last_seq, received, stored, duplicates,
                           quarantined, quarantine_duplicates, by_reason)
VALUES (%(batch_id)s, %(processor)s, %(source)s, %(spool_id)s, %(first_seq)s, %(last_seq)s, %(received)s, %(stored)s,
        %(duplicates)s, %(quarantined)s, %(quarantine_duplicates)s, %(by_reason)s)
"""
# A spool is drained in order by its one owner: once a batch up to seq N is committed, every entry <= N is.
_LEDGER_SEEN = "SELECT 1 FROM ingest_ledger WHERE spool_id = %s AND last_seq >= %s LIMIT 1"
_LEDGER_THROUGH = "SELECT coalesce(max(last_seq), 0) FROM ingest_ledger WHERE spool_id = %s"
_KPI = "INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id, processor) VALUES %s"
