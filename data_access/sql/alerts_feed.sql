-- The live alert feed: open alerts, then alerts closed in the last :closed_hours hours; most severe and most
-- recent first. Sensor names and metric labels joined for display. An open alert is silenced when a silence covers
-- it now (the engine records the same at its next tick); a closed one as it was when it closed.
SELECT a.alert_id, a.sensor_id, s.name AS sensor_name, s.commune, a.metric, m.label_fr, m.label_en, m.unit,
       a.kind, a.severity, a.opened_at, a.last_seen_at, a.closed_at, a.value, a.threshold, a.message,
       a.acknowledged_at, a.acknowledged_by, a.ack_comment, a.assignee, a.resolved_by, a.resolution,
       CASE WHEN a.closed_at IS NULL THEN alert_silenced(a.sensor_id, a.metric, CAST(:now AS timestamptz))
            ELSE a.silenced END AS silenced,
       (a.closed_at IS NULL) AS is_open
  FROM alerts a
  LEFT JOIN sensors s ON s.sensor_id = a.sensor_id
  LEFT JOIN metrics m ON m.metric = a.metric
 WHERE (a.closed_at IS NULL OR a.closed_at >= CAST(:now AS timestamptz) - CAST(:closed_hours AS integer) * interval '1 hour')
   AND (CAST(:sensor_ids AS text[]) IS NULL OR a.sensor_id = ANY(CAST(:sensor_ids AS text[])))
 ORDER BY (a.closed_at IS NULL) DESC,
          array_position(ARRAY['critical', 'warning', 'info'], a.severity),
          a.opened_at DESC, a.alert_id DESC
 LIMIT CAST(:limit AS integer)
