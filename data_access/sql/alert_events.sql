-- The alert history (alert_events), most recent first: actions on alerts of the chosen sensors and the silences
-- set or lifted on them, since :since (NULL = all), with the alert's kind and the sensor's name and metric labels.
SELECT e.event_id, e.at, e.alert_id, e.sensor_id, s.name AS sensor_name, e.metric, m.label_fr, m.label_en, a.kind,
       e.action, e.actor, e.severity, e.silenced, e.comment, e.details
  FROM alert_events e
  LEFT JOIN alerts a ON a.alert_id = e.alert_id
  LEFT JOIN sensors s ON s.sensor_id = e.sensor_id
  LEFT JOIN metrics m ON m.metric = e.metric
 WHERE (CAST(:sensor_ids AS text[]) IS NULL OR e.sensor_id = ANY(CAST(:sensor_ids AS text[])))
   AND (CAST(:since AS timestamptz) IS NULL OR e.at >= CAST(:since AS timestamptz))
 ORDER BY e.at DESC, e.event_id DESC
 LIMIT CAST(:limit AS integer)
