-- Windowed means from the 1-hour tumbling windows of sensor_data_agg, into buckets of :window_s seconds (a whole
-- number of hours) aligned on :origin. Each (sensor, metric, hour) window is fetched by its full primary key:
-- the 1-minute and 5-minute windows stored beside it are never read, so the cost follows the number of hours
-- shown, not the number of rows in the table. Only (sensor, metric) pairs that exist (sensor_latest) are probed.
WITH pairs AS (
    SELECT l.sensor_id, l.metric
      FROM sensor_latest l
     WHERE l.sensor_id = ANY(CAST(:sensor_ids AS text[]))
       AND l.metric = ANY(CAST(:metrics AS text[]))
), hours AS (
    SELECT generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz) - interval '1 microsecond',
                           interval '1 hour') AS h
)
SELECT date_bin(CAST(:window_s AS integer) * interval '1 second', a.window_start, CAST(:origin AS timestamptz))
           AS time,
       a.sensor_id, a.metric, sum(a.sum_value) / sum(a.count) AS value, min(a.min) AS min, max(a.max) AS max,
       sum(a.count) AS count
  FROM pairs p
 CROSS JOIN hours
 CROSS JOIN LATERAL (
        SELECT w.window_start, w.sensor_id, w.metric, w.sum_value, w.count, w.min, w.max
          FROM sensor_data_agg w
         WHERE w.sensor_id = p.sensor_id AND w.metric = p.metric
           AND w.window_start = hours.h AND w.window_end = hours.h + interval '1 hour'
        OFFSET 0  -- keep it a per-key lookup
       ) a
 GROUP BY 1, 2, 3
 ORDER BY 3, 2, 1
