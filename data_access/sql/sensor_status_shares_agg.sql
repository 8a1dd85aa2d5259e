-- Readings of one sensor by status, per metric, from its tumbling windows of :window_s seconds (60 or 3600) that
-- start in [:start, :end): the status counts of sensor_data_agg add up exactly.
SELECT a.metric, sum(a.count) AS readings, sum(a.n_warning) AS n_warning, sum(a.n_critical) AS n_critical,
       sum(a.n_fault) AS n_fault
  FROM sensor_data_agg a
 WHERE a.sensor_id = :sensor_id
   AND a.window_end - a.window_start = CAST(:window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_start < :end
 GROUP BY a.metric
 ORDER BY a.metric
