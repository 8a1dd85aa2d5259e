-- The time step of what is stored for one sensor in [:start, :end), per metric: the median number of readings in
-- its :window_s-second windows that lie inside the range and hold readings. The step is then window / that count:
-- 60 readings per minute = one a second (live), 1 per minute = a one-minute history (the backfill). Missing windows
-- (outages) do not count, so an outage does not make the step look longer.
SELECT a.metric, percentile_disc(0.5) WITHIN GROUP (ORDER BY a.count) AS median_count, count(*) AS windows
  FROM sensor_data_agg a
 WHERE a.sensor_id = :sensor_id
   AND a.window_end - a.window_start = CAST(:window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_end <= :end
 GROUP BY a.metric
 ORDER BY a.metric
