-- Active sensors with the metrics they have reported (from sensor_latest: one row per sensor and metric).
SELECT s.sensor_id, s.name, s.kind, s.commune, s.insee, s.latitude, s.longitude, s.expected_interval_s,
       coalesce(array_agg(l.metric ORDER BY l.metric) FILTER (WHERE l.metric IS NOT NULL), '{}') AS metrics
  FROM sensors s
  LEFT JOIN sensor_latest l ON l.sensor_id = s.sensor_id
 WHERE s.active
 GROUP BY s.sensor_id
 ORDER BY s.commune, s.sensor_id
