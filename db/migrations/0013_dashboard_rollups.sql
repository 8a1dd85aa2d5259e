-- A rollup for the dashboard's long ranges (DESIGN §6: trends over 30 days p95 <= 150 ms at 20M raw rows / 90 days
-- of aggregates). A plain table on both branches, kept exact by whoever writes its source, in the same transaction
-- (docs/architecture.md, "Rollups").
--
-- sensor_data_agg_6h: 6-hour tumbling windows aligned on a Martinique midnight (00, 06, 12, 18 h local = 04, 10, 16,
-- 22 h UTC; Martinique has no daylight saving), the same columns as sensor_data_agg. A 30-day view of the network
-- reads 120 of them per (sensor, metric) instead of 720 one-hour windows, and 1-day buckets are 4 of them. Not in
-- sensor_data_agg: the writer's updates of that table are HOT (no index holds a value column), which a covering
-- index there would end for every window size; this small table's primary key carries the columns the reads need
-- (index-only range scans). Maintained by ingestion/writer.py (merged from the batch's per-minute partials; the
-- Spark job writes through it too) and ingestion/backfill.py (merged from the chunk's 1-hour windows).
-- madinina_rollup_agg_6h below recomputes windows from the 1-hour ones: this migration (history
-- already stored) and the benchmark's generated database use it.

-- Two lanes, so that the live writer never waits for a writer of older readings: a 6-hour window spans the live edge
-- AND the hours a backfill (or a late batch) writes at the same moment, and one row per window would make the live
-- writer wait for that transaction's row lock (tests/integration/test_backfill.py,
-- test_older_readings_do_not_lock_what_the_live_writer_advances). Lane 0 takes the minutes that advance their series
-- (newer than sensor_latest's minute: the live writer), lane 1 every older minute, the backfill and recomputations.
-- A window is the sum of its lanes (counts and sums add, min/max combine): the reads group them anyway.
CREATE TABLE sensor_data_agg_6h (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    sensor_id    text NOT NULL,
    metric       text NOT NULL,
    lane         smallint NOT NULL CHECK (lane IN (0, 1)),
    avg          double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    count        bigint NOT NULL CHECK (count > 0),
    stddev       double precision,
    n_warning    integer NOT NULL DEFAULT 0,
    n_critical   integer NOT NULL DEFAULT 0,
    n_fault      integer NOT NULL DEFAULT 0,
    sum_value    double precision NOT NULL,
    sum_sq       double precision NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (window_end = window_start + interval '6 hours'),
    -- window_start on a Martinique midnight + k * 6 h (origin 2000-01-01 00:00 local)
    CHECK (date_bin(interval '6 hours', window_start, timestamptz '2000-01-01 04:00:00+00') = window_start),
    PRIMARY KEY (sensor_id, metric, window_start, lane) INCLUDE (count, sum_value, min, max)
);

-- (Re)compute the 6-hour windows overlapping [p_start, p_end) (NULL = unbounded) from the 1-hour windows of
-- sensor_data_agg, for the given sensors and metrics (NULL = all): each window is overwritten with the sum of its six
-- hours, in lane 1 (lane 0 deleted), so running it twice gives the same rows. Used by this migration (the history
-- already stored) and the benchmark's generated database. Returns the windows written.
CREATE FUNCTION madinina_rollup_agg_6h(p_start timestamptz, p_end timestamptz, p_sensor_ids text[] DEFAULT NULL,
                                       p_metrics text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SET search_path = public, pg_temp AS $$
    DELETE FROM sensor_data_agg_6h r
     WHERE r.lane = 0
       AND (p_start IS NULL
            OR r.window_start >= date_bin(interval '6 hours', p_start, timestamptz '2000-01-01 04:00:00+00'))
       AND (p_end IS NULL OR r.window_start < p_end)
       AND (p_sensor_ids IS NULL OR r.sensor_id = ANY(p_sensor_ids))
       AND (p_metrics IS NULL OR r.metric = ANY(p_metrics));
    WITH bounds AS (
        SELECT date_bin(interval '6 hours', p_start, timestamptz '2000-01-01 04:00:00+00') AS lo,
               date_bin(interval '6 hours', p_end - interval '1 microsecond', timestamptz '2000-01-01 04:00:00+00')
               + interval '6 hours' AS hi
    ), written AS (
        INSERT INTO sensor_data_agg_6h AS a (window_start, window_end, sensor_id, metric, lane, avg, min, max, count,
                                             stddev, n_warning, n_critical, n_fault, sum_value, sum_sq, updated_at)
        SELECT s.w, s.w + interval '6 hours', s.sensor_id, s.metric, 1, s.sv / s.n, s.lo, s.hi, s.n,
               CASE WHEN s.n > 1 THEN sqrt(greatest(0, (s.ss - s.sv ^ 2 / s.n) / (s.n - 1))) END,
               s.nw, s.nc, s.nf, s.sv, s.ss, now()
          FROM (SELECT date_bin(interval '6 hours', h.window_start, timestamptz '2000-01-01 04:00:00+00') AS w,
                       h.sensor_id, h.metric, sum(h.count) AS n, sum(h.sum_value) AS sv, sum(h.sum_sq) AS ss,
                       min(h.min) AS lo, max(h.max) AS hi, sum(h.n_warning) AS nw, sum(h.n_critical) AS nc,
                       sum(h.n_fault) AS nf
                  FROM sensor_data_agg h CROSS JOIN bounds b
                 WHERE h.window_end - h.window_start = interval '1 hour'
                   AND (b.lo IS NULL OR h.window_start >= b.lo) AND (b.hi IS NULL OR h.window_start < b.hi)
                   AND (p_sensor_ids IS NULL OR h.sensor_id = ANY(p_sensor_ids))
                   AND (p_metrics IS NULL OR h.metric = ANY(p_metrics))
                 GROUP BY 1, 2, 3) s
         ORDER BY s.sensor_id, s.metric, s.w  -- key order, as every writer locks window rows
        ON CONFLICT (sensor_id, metric, window_start, lane) DO UPDATE
           SET avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count,
               stddev = excluded.stddev, n_warning = excluded.n_warning, n_critical = excluded.n_critical,
               n_fault = excluded.n_fault, sum_value = excluded.sum_value, sum_sq = excluded.sum_sq,
               updated_at = excluded.updated_at
        RETURNING 1
    )
    SELECT count(*) FROM written
$$;

-- The history already stored (a database migrated with data; run with ingestion stopped, as `python -m db up`
-- does before the run command starts it).
SELECT madinina_rollup_agg_6h(NULL, NULL);

GRANT SELECT ON sensor_data_agg_6h TO madinina_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON sensor_data_agg_6h TO madinina_writer;
REVOKE ALL ON FUNCTION madinina_rollup_agg_6h(timestamptz, timestamptz, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION madinina_rollup_agg_6h(timestamptz, timestamptz, text[], text[]) TO madinina_writer;
