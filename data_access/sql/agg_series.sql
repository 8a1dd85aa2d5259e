-- Windowed aggregates of one metric for some sensors, re-bucketed to :step_s seconds from :window_s windows.
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', a.window_start, timestamptz 'epoch') AS time,
       a.sensor_id, sum(a.sum_value) / sum(a.count) AS value, min(a.min) AS min, max(a.max) AS max,
       sum(a.count) AS count
  FROM sensor_data_agg a
 WHERE a.metric = :metric
   AND a.sensor_id = ANY(CAST(:sensor_ids AS text[]))
   AND a.window_end - a.window_start = CAST(:window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_end <= :end
 GROUP BY 1, 2
 ORDER BY 2, 1
