-- Latest reading of every metric of one sensor, with labels, units, thresholds and the age at :now.
SELECT l.metric, m.label_fr, m.label_en, m.unit, m.warn_low, m.warn_high, m.crit_low, m.crit_high,
       l.time, l.value, l.status, EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - l.time)) AS age_s
  FROM sensor_latest l
  JOIN metrics m ON m.metric = l.metric
 WHERE l.sensor_id = :sensor_id
 ORDER BY l.metric
