-- The Live page's figures beside the sensor grid, in one statement per refresh (issue 11: each statement costs a
-- round trip and a DataFrame, whatever it reads). One row per metric of the overview, or one row with metric NULL
-- when no series of the given sensors (NULL = all) has a window in the last two minutes; every row carries the same
-- page-wide figures: open alerts by severity of these sensors, the live consumers' messages/s over the last
-- :seconds before :now (the whole network: a message is not attributed to a filter; the backfill writes readings,
-- not messages) and the end-to-end latency over the last :minutes (get_pipeline_latency_stats, the database's
-- now()).
-- The overview reads each series by key, so its cost follows the number of series, never the history: the pairs
-- from sensor_latest (one row per series, updated with every raw write), then per pair one range scan of the primary
-- key (sensor_id, metric, window_start, ...) over the last two minutes before :now, which meets the two 1-minute
-- windows wanted and the two 5-minute ones starting beside them (migration 0015: no index per window size any more;
-- two primary-key probes per pair would cost twice the index descents, and on TimescaleDB a join on a VALUES list of
-- the two windows hides their bounds from chunk exclusion: every chunk was probed). No index on (metric, window_start)
-- is needed. `bounds` is inlined (NOT MATERIALIZED) so that its instants are constants of the plan: TimescaleDB then
-- reads the current chunk only.
WITH bounds AS NOT MATERIALIZED (
    SELECT date_bin(interval '1 minute', CAST(:now AS timestamptz), timestamptz 'epoch') AS cur_end
),
pairs AS (
    SELECT l.sensor_id, l.metric
      FROM sensor_latest l
     WHERE CAST(:sensor_ids AS text[]) IS NULL OR l.sensor_id = ANY(CAST(:sensor_ids AS text[]))
),
windows AS (
    SELECT a.sensor_id, a.metric, a.sum_value, a.count, a.window_start = b.cur_end - interval '1 minute' AS is_current
      FROM pairs p
     CROSS JOIN bounds b
      JOIN sensor_data_agg a
        ON a.sensor_id = p.sensor_id AND a.metric = p.metric AND a.window_end - a.window_start = interval '1 minute'
       AND a.window_start >= b.cur_end - interval '2 minutes' AND a.window_start < b.cur_end
),
overview AS (
    SELECT w.metric, m.label_fr, m.label_en, m.unit,
           sum(w.sum_value) FILTER (WHERE w.is_current)
             / nullif(sum(w.count) FILTER (WHERE w.is_current), 0) AS current,
           sum(w.sum_value) FILTER (WHERE NOT w.is_current)
             / nullif(sum(w.count) FILTER (WHERE NOT w.is_current), 0) AS previous,
           count(DISTINCT w.sensor_id) FILTER (WHERE w.is_current) AS sensors,
           coalesce(sum(w.count) FILTER (WHERE w.is_current), 0) AS readings
      FROM windows w
      JOIN metrics m ON m.metric = w.metric
     GROUP BY w.metric, m.label_fr, m.label_en, m.unit
),
open_alerts AS (
    SELECT count(*) FILTER (WHERE severity = 'critical') AS critical_open,
           count(*) FILTER (WHERE severity = 'critical' AND acknowledged_at IS NULL) AS critical_unack,
           count(*) FILTER (WHERE severity = 'warning') AS warning_open,
           count(*) FILTER (WHERE severity = 'warning' AND acknowledged_at IS NULL) AS warning_unack,
           count(*) FILTER (WHERE severity = 'info') AS info_open,
           count(*) FILTER (WHERE severity = 'info' AND acknowledged_at IS NULL) AS info_unack
      FROM alerts
     WHERE closed_at IS NULL
       AND (CAST(:sensor_ids AS text[]) IS NULL OR sensor_id = ANY(CAST(:sensor_ids AS text[])))
),
messages AS (
    SELECT coalesce(sum(received), 0) / CAST(:seconds AS double precision) AS messages_per_s,
           count(*) AS message_batches
      FROM ingest_ledger
     WHERE committed_at > CAST(:now AS timestamptz) - CAST(:seconds AS integer) * interval '1 second'
       AND committed_at <= CAST(:now AS timestamptz)
       AND processor <> 'backfill' AND source <> 'backfill'
),
latency AS (
    SELECT samples AS latency_samples, avg_ms, p50_ms, p95_ms, p99_ms, max_ms
      FROM get_pipeline_latency_stats(CAST(:minutes AS integer) * interval '1 minute')
     WHERE stage = 'end_to_end'
)
SELECT o.metric, o.label_fr, o.label_en, o.unit, o.current, o.previous, o.sensors, o.readings,
       b.cur_end - interval '1 minute' AS window_start, a.*, g.*, t.*
  FROM bounds b
 CROSS JOIN open_alerts a
 CROSS JOIN messages g
  LEFT JOIN latency t ON true
  LEFT JOIN overview o ON true
 ORDER BY o.metric
