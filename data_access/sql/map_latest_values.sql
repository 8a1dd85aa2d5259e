-- Latest reading of one metric for some sensors (sensor_latest: one row per sensor and metric).
SELECT l.sensor_id, l.time AS value_time, l.value, l.status AS value_status
  FROM sensor_latest l
 WHERE l.metric = :metric
   AND (CAST(:sensor_ids AS text[]) IS NULL OR l.sensor_id = ANY(CAST(:sensor_ids AS text[])))
 ORDER BY l.sensor_id
