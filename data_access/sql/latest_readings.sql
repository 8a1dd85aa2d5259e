-- Latest reading of every (sensor, metric), with labels and units.
SELECT l.sensor_id, s.name, s.kind, s.commune, l.metric, m.label_fr, m.label_en, m.unit,
       l.time, l.value, l.status
  FROM sensor_latest l
  JOIN sensors s ON s.sensor_id = l.sensor_id
  JOIN metrics m ON m.metric = l.metric
 WHERE (CAST(:sensor_ids AS text[]) IS NULL OR l.sensor_id = ANY(CAST(:sensor_ids AS text[])))
 ORDER BY s.commune, l.sensor_id, l.metric
