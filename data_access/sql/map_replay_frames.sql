-- Replay frames of the map: tumbling windows of :base_window_s seconds (60 or 3600) of one metric re-aggregated
-- exactly into frames of :step_s seconds aligned on :origin (a Martinique midnight). One row per (frame, sensor)
-- that has readings; value = mean of every reading of the frame (sum of sums / sum of counts).
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', a.window_start, CAST(:origin AS timestamptz))
           AS frame,
       a.sensor_id, sum(a.sum_value) / sum(a.count) AS value, min(a.min) AS min, max(a.max) AS max,
       sum(a.count) AS count, sum(a.n_warning) AS n_warning, sum(a.n_critical) AS n_critical,
       sum(a.n_fault) AS n_fault
  FROM sensor_data_agg a
 WHERE a.metric = :metric
   AND a.sensor_id = ANY(CAST(:sensor_ids AS text[]))
   AND a.window_end - a.window_start = CAST(:base_window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_start < :end
 GROUP BY 1, 2
 ORDER BY 1, 2
