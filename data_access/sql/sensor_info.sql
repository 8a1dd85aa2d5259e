-- One sensor of the catalogue (active or not).
SELECT s.sensor_id, s.name, s.kind, s.commune, s.insee, s.latitude, s.longitude, s.expected_interval_s, s.active,
       s.installed_at, s.tags
  FROM sensors s
 WHERE s.sensor_id = :sensor_id
