-- Silences not over at :now (in force or planned) on the chosen sensors, soonest end first.
SELECT x.silence_id, x.sensor_id, s.name AS sensor_name, x.metric, m.label_fr, m.label_en, x.starts_at, x.ends_at,
       x.reason, x.created_by, x.created_at, (x.starts_at <= CAST(:now AS timestamptz)) AS active
  FROM alert_silences x
  LEFT JOIN sensors s ON s.sensor_id = x.sensor_id
  LEFT JOIN metrics m ON m.metric = x.metric
 WHERE x.ends_at > CAST(:now AS timestamptz)
   AND (CAST(:sensor_ids AS text[]) IS NULL OR x.sensor_id = ANY(CAST(:sensor_ids AS text[])))
 ORDER BY x.ends_at, x.silence_id
