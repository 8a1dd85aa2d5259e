-- Hourly battery means of one sensor in [:start, :end), from the 1-hour tumbling windows of sensor_data_agg.
SELECT a.window_start, a.avg AS value, a.min, a.max, a.count
  FROM sensor_data_agg a
 WHERE a.sensor_id = :sensor_id
   AND a.metric = 'battery'
   AND a.window_end - a.window_start = interval '1 hour'
   AND a.window_start >= :start AND a.window_start < :end
 ORDER BY a.window_start
