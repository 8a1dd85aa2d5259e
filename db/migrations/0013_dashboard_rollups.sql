-- Rollups for the dashboard's long ranges (DESIGN §6: trends over 30 days p95 <= 150 ms at 20M raw rows / 90 days
-- of aggregates; the Pipeline page well under a second). Both are plain tables on both branches, kept exact by
-- whoever writes their source, in the same transaction (docs/architecture.md, "Rollups").
--
-- 1. sensor_data_agg_6h: 6-hour tumbling windows aligned on a Martinique midnight (00, 06, 12, 18 h local =
--    04, 10, 16, 22 h UTC; Martinique has no daylight saving), the same columns as sensor_data_agg. A 30-day view
--    of the network reads 120 of them per (sensor, metric) instead of 720 one-hour windows, and 1-day buckets are
--    4 of them. Not in sensor_data_agg: the writer's updates of that table are HOT (95 % measured on live batches;
--    no index holds a value column), which a covering index there would end for every window size; this small
--    table's primary key carries the columns the reads need (index-only scans). Maintained by ingestion/writer.py
--    (merged from the batch's per-minute partials), ingestion/backfill.py (merged from the chunk's 1-hour windows)
--    and Writer.upsert_windows (the Spark job: recomputed from the 1-hour windows, madinina_rollup_agg_6h below).
-- 2. pipeline_latency_rollup: pipeline_kpi latencies per minute and per hour, per stage, counted in fixed
--    logarithmic bins 2^(1/16) wide (16 per doubling), with exact count, sum, min and max: a percentile read from
--    the bins is within half a bin of the true one (a relative error of at most 2^(1/32) - 1 = 2.19 %), and a day
--    of latencies is ~100 rows per stage instead of ~170k batches to sort. Kept by triggers on pipeline_kpi, so
--    every writer of KPIs (lite writer, Spark sink, a psql user) keeps it exact. get_pipeline_latency_stats() is
--    unchanged (exact, the contract); the Pipeline page reads the rollup.

CREATE TABLE sensor_data_agg_6h (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    sensor_id    text NOT NULL,
    metric       text NOT NULL,
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
    PRIMARY KEY (sensor_id, metric, window_start, window_end) INCLUDE (count, sum_value, min, max)
);

-- (Re)compute the 6-hour windows overlapping [p_start, p_end) (NULL = unbounded) from the 1-hour windows of
-- sensor_data_agg, for the given sensors and metrics (NULL = all): each window is overwritten with the sum of its six hours, so running it
-- twice gives the same rows. Used by this migration (the history already stored), the benchmark's generated
-- database, and Writer.upsert_windows (windows computed elsewhere, e.g. by Spark). Returns the windows written.
CREATE FUNCTION madinina_rollup_agg_6h(p_start timestamptz, p_end timestamptz, p_sensor_ids text[] DEFAULT NULL,
                                       p_metrics text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SET search_path = public, pg_temp AS $$
    WITH bounds AS (
        SELECT date_bin(interval '6 hours', p_start, timestamptz '2000-01-01 04:00:00+00') AS lo,
               date_bin(interval '6 hours', p_end - interval '1 microsecond', timestamptz '2000-01-01 04:00:00+00')
               + interval '6 hours' AS hi
    ), written AS (
        INSERT INTO sensor_data_agg_6h AS a (window_start, window_end, sensor_id, metric, avg, min, max, count,
                                             stddev, n_warning, n_critical, n_fault, sum_value, sum_sq, updated_at)
        SELECT s.w, s.w + interval '6 hours', s.sensor_id, s.metric, s.sv / s.n, s.lo, s.hi, s.n,
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
        ON CONFLICT (sensor_id, metric, window_start, window_end) DO UPDATE
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

CREATE TABLE pipeline_latency_rollup (
    width_s      integer NOT NULL CHECK (width_s IN (60, 3600)),
    bucket_start timestamptz NOT NULL,
    stage        text NOT NULL,
    bin          smallint NOT NULL,
    samples      bigint NOT NULL CHECK (samples > 0),
    sum_ms       double precision NOT NULL,
    min_ms       double precision NOT NULL,
    max_ms       double precision NOT NULL,
    PRIMARY KEY (width_s, bucket_start, stage, bin) INCLUDE (samples, sum_ms, min_ms, max_ms)
);

-- The bin of a latency: floor(16 * log2(ms)), latencies under 1 microsecond in the bin of 1 microsecond.
CREATE FUNCTION pipeline_latency_bin(p_ms double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor(16 * ln(greatest(p_ms, 0.001)) / ln(2))::smallint
$$;
-- A bin's representative value: its geometric middle, within 2^(1/32) (2.19 %) of any latency in the bin.
CREATE FUNCTION pipeline_latency_bin_ms(p_bin smallint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT power(2.0::double precision, (p_bin + 0.5) / 16.0)
$$;

CREATE FUNCTION pipeline_latency_rollup_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO pipeline_latency_rollup AS r (width_s, bucket_start, stage, bin, samples, sum_ms, min_ms, max_ms)
    SELECT w.width_s, date_bin(w.width_s * interval '1 second', n.time, timestamptz 'epoch'), n.stage,
           pipeline_latency_bin(n.latency_ms), count(*), sum(n.latency_ms), min(n.latency_ms), max(n.latency_ms)
      FROM new_rows n CROSS JOIN (VALUES (60), (3600)) AS w (width_s)
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4  -- key order: two writers of the same minute wait for each other, never deadlock
    ON CONFLICT (width_s, bucket_start, stage, bin) DO UPDATE
       SET samples = r.samples + excluded.samples, sum_ms = r.sum_ms + excluded.sum_ms,
           min_ms = least(r.min_ms, excluded.min_ms), max_ms = greatest(r.max_ms, excluded.max_ms);
    RETURN NULL;
END
$$;

-- Deleted or changed KPI rows (retention, a correction): the buckets they were in are recomputed from the rows
-- left. Rare, so simple rather than fast.
CREATE FUNCTION pipeline_latency_rollup_redo() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS pipeline_latency_touched (width_s integer, bucket_start timestamptz,
                                                               stage text) ON COMMIT DROP;
    INSERT INTO pipeline_latency_touched
    SELECT DISTINCT w.width_s, date_bin(w.width_s * interval '1 second', o.time, timestamptz 'epoch'), o.stage
      FROM old_rows o CROSS JOIN (VALUES (60), (3600)) AS w (width_s);
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO pipeline_latency_touched
        SELECT DISTINCT w.width_s, date_bin(w.width_s * interval '1 second', n.time, timestamptz 'epoch'), n.stage
          FROM new_rows n CROSS JOIN (VALUES (60), (3600)) AS w (width_s);
    END IF;
    DELETE FROM pipeline_latency_rollup r
     USING (SELECT DISTINCT * FROM pipeline_latency_touched) t
     WHERE r.width_s = t.width_s AND r.bucket_start = t.bucket_start AND r.stage = t.stage;
    INSERT INTO pipeline_latency_rollup (width_s, bucket_start, stage, bin, samples, sum_ms, min_ms, max_ms)
    SELECT t.width_s, t.bucket_start, t.stage, pipeline_latency_bin(k.latency_ms), count(*), sum(k.latency_ms),
           min(k.latency_ms), max(k.latency_ms)
      FROM (SELECT DISTINCT * FROM pipeline_latency_touched) t
      JOIN pipeline_kpi k
        ON k.stage = t.stage AND k.time >= t.bucket_start
       AND k.time < t.bucket_start + t.width_s * interval '1 second'
     GROUP BY 1, 2, 3, 4;
    DROP TABLE pipeline_latency_touched;
    RETURN NULL;
END
$$;

CREATE FUNCTION pipeline_latency_rollup_clear() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    TRUNCATE pipeline_latency_rollup;
    RETURN NULL;
END
$$;

CREATE TRIGGER pipeline_latency_rollup_insert AFTER INSERT ON pipeline_kpi
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pipeline_latency_rollup_add();
CREATE TRIGGER pipeline_latency_rollup_delete AFTER DELETE ON pipeline_kpi
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pipeline_latency_rollup_redo();
CREATE TRIGGER pipeline_latency_rollup_update AFTER UPDATE ON pipeline_kpi
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline_latency_rollup_redo();
CREATE TRIGGER pipeline_latency_rollup_truncate AFTER TRUNCATE ON pipeline_kpi
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline_latency_rollup_clear();
REVOKE ALL ON FUNCTION pipeline_latency_rollup_add(), pipeline_latency_rollup_redo(),
    pipeline_latency_rollup_clear() FROM PUBLIC;

-- What is already in pipeline_kpi.
INSERT INTO pipeline_latency_rollup (width_s, bucket_start, stage, bin, samples, sum_ms, min_ms, max_ms)
SELECT w.width_s, date_bin(w.width_s * interval '1 second', k.time, timestamptz 'epoch'), k.stage,
       pipeline_latency_bin(k.latency_ms), count(*), sum(k.latency_ms), min(k.latency_ms), max(k.latency_ms)
  FROM pipeline_kpi k CROSS JOIN (VALUES (60), (3600)) AS w (width_s)
 GROUP BY 1, 2, 3, 4;

GRANT SELECT ON sensor_data_agg_6h, pipeline_latency_rollup TO madinina_reader;
GRANT SELECT, INSERT, UPDATE ON sensor_data_agg_6h TO madinina_writer;
GRANT SELECT ON pipeline_latency_rollup TO madinina_writer;
REVOKE ALL ON FUNCTION madinina_rollup_agg_6h(timestamptz, timestamptz, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION madinina_rollup_agg_6h(timestamptz, timestamptz, text[], text[]) TO madinina_writer;
