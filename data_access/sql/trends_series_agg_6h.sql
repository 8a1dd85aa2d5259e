-- Windowed means from the 6-hour rollup (sensor_data_agg_6h, migration 0013) and the 1-hour tumbling windows of
-- sensor_data_agg, into buckets of :window_s seconds (a whole number of hours) aligned on :origin. Exact: every
-- reading of [:start, :end) is counted once, from the largest window that lies whole inside the range and inside
-- one bucket.
--   [:six_start, :six_end)  6-hour windows, one index-only range scan per (sensor, metric) on the rollup's primary
--                           key (empty unless the buckets are whole multiples of 6 hours: trends.Plan.six_start);
--   :edge_hours             the hours of [:start, :six_start) and [:six_end, :hour_end) (trends.Plan.edge_hours):
--                           1-hour windows, each fetched by its full primary key, so the 1-minute and 5-minute
--                           windows stored beside them are never read. Only (sensor, metric) pairs that exist
--                           (sensor_latest) are probed;
--   [:hour_end, :end)       the unfinished hour, from its 1-minute windows (:end is a whole minute), so no window
--                           brings readings from after the end of the range.
WITH pairs AS (
    SELECT l.sensor_id, l.metric
      FROM sensor_latest l
     WHERE l.sensor_id = ANY(CAST(:sensor_ids AS text[]))
       AND l.metric = ANY(CAST(:metrics AS text[]))
), hours AS (
    SELECT unnest(CAST(:edge_hours AS timestamptz[])) AS h  -- a bound list: the planner knows how many (few)
), parts AS (
    SELECT r.window_start, r.sensor_id, r.metric, r.sum_value, r.count, r.min, r.max
      FROM sensor_data_agg_6h r
     WHERE r.sensor_id = ANY(CAST(:sensor_ids AS text[]))
       AND r.metric = ANY(CAST(:metrics AS text[]))
       AND r.window_start >= CAST(:six_start AS timestamptz) AND r.window_start < CAST(:six_end AS timestamptz)
    UNION ALL
    SELECT a.window_start, a.sensor_id, a.metric, a.sum_value, a.count, a.min, a.max
      FROM pairs p
     CROSS JOIN hours
     CROSS JOIN LATERAL (
            SELECT w.window_start, w.sensor_id, w.metric, w.sum_value, w.count, w.min, w.max
              FROM sensor_data_agg w
             WHERE w.sensor_id = p.sensor_id AND w.metric = p.metric
               AND w.window_start = hours.h AND w.window_end = hours.h + interval '1 hour'
            OFFSET 0  -- keep it a per-key lookup
           ) a
    UNION ALL
    SELECT m.window_start, m.sensor_id, m.metric, m.sum_value, m.count, m.min, m.max
      FROM sensor_data_agg m
     WHERE m.sensor_id = ANY(CAST(:sensor_ids AS text[]))
       AND m.metric = ANY(CAST(:metrics AS text[]))
       AND m.window_end - m.window_start = interval '1 minute'
       AND m.window_start >= CAST(:hour_end AS timestamptz) AND m.window_start < CAST(:end AS timestamptz)
       AND m.window_end <= CAST(:end AS timestamptz)  -- window_start bounded both ways: one short index range
)
-- time in epoch seconds and no ORDER BY: tens of thousands of rows at 30 days, whose timestamps the driver would
-- parse one by one and which pandas orders faster than the server (trends.windowed_series does both)
SELECT extract(epoch FROM date_bin(CAST(:window_s AS integer) * interval '1 second', window_start,
                                   CAST(:origin AS timestamptz)))::float8 AS time,
       sensor_id, metric, sum(sum_value) / sum(count) AS value, min(min) AS min, max(max) AS max,
       sum(count)::bigint AS count  -- not numeric: the driver would make a Decimal of each
  FROM parts
 GROUP BY 1, 2, 3
