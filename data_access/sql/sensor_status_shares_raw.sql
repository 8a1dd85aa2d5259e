-- Readings of one sensor in [:start, :end) by status, per metric, from the raw rows (short ranges).
SELECT d.metric, count(*) AS readings,
       count(*) FILTER (WHERE d.status = 'warning') AS n_warning,
       count(*) FILTER (WHERE d.status = 'critical') AS n_critical,
       count(*) FILTER (WHERE d.status = 'fault') AS n_fault
  FROM sensor_data d
 WHERE d.sensor_id = :sensor_id AND d.time >= :start AND d.time < :end
 GROUP BY d.metric
 ORDER BY d.metric
