-- One row per active sensor with its freshness status.
-- online: last reading within max(3 x expected interval, 10 s); stale: within max(20 x interval, 120 s);
-- offline: older, or never seen.
SELECT s.sensor_id, s.name, s.kind, s.commune, s.insee, s.latitude, s.longitude, s.expected_interval_s,
       l.last_time,
       EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - l.last_time)) AS age_s,
       CASE
           WHEN l.last_time IS NULL THEN 'offline'
           WHEN CAST(:now AS timestamptz) - l.last_time
                <= greatest(3 * s.expected_interval_s, 10) * interval '1 second' THEN 'online'
           WHEN CAST(:now AS timestamptz) - l.last_time
                <= greatest(20 * s.expected_interval_s, 120) * interval '1 second' THEN 'stale'
           ELSE 'offline'
       END AS status
  FROM sensors s
  LEFT JOIN (SELECT sensor_id, max(time) AS last_time FROM sensor_latest GROUP BY sensor_id) l
         ON l.sensor_id = s.sensor_id
 WHERE s.active
 ORDER BY s.commune, s.sensor_id
