-- The time step of what is stored for one sensor in [:start, :end), per metric: the number of readings of its
-- fuller windows (the 90th percentile of the counts of its :window_s-second windows that lie inside the range and
-- hold readings). The step is then window / that count: 60 readings per minute = one a second (live), 1 per minute
-- = a one-minute history (the backfill). Outages only empty or thin some windows: they do not lengthen the step.
SELECT a.metric, percentile_disc(0.9) WITHIN GROUP (ORDER BY a.count) AS full_count,
       count(*) AS windows
  FROM sensor_data_agg a
 WHERE a.sensor_id = :sensor_id
   AND a.window_end - a.window_start = CAST(:window_s AS integer) * interval '1 second'
   AND a.window_start >= :start AND a.window_end <= :end
 GROUP BY a.metric
 ORDER BY a.metric
