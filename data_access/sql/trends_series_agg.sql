-- Windowed means of some metrics for some sensors re-aggregated from tumbling windows of :base_window_s seconds
-- (1 min or 1 h) of sensor_data_agg into buckets of :window_s seconds aligned on :origin. Exact: the mean of a
-- bucket is sum(sum_value) / sum(count) of its windows, i.e. the mean of every reading in it. Only windows that end
-- by :end: a window still open at the end of the range would bring readings from after it.
SELECT date_bin(CAST(:window_s AS integer) * interval '1 second', a.window_start, CAST(:origin AS timestamptz))
           AS time,
       a.sensor_id, a.metric, sum(a.sum_value) / sum(a.count) AS value, min(a.min) AS min, max(a.max) AS max,
       sum(a.count) AS count
  FROM sensor_data_agg a
 WHERE a.metric = ANY(CAST(:metrics AS text[]))
   AND a.sensor_id = ANY(CAST(:sensor_ids AS text[]))
   AND a.window_end - a.window_start = CAST(:base_window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_end <= :end
 GROUP BY 1, 2, 3
 ORDER BY 3, 2, 1
