-- Every alert of one sensor, most recent first (open or closed), with the metric's labels and unit; silenced as in
-- alerts_feed.sql.
SELECT a.alert_id, a.sensor_id, a.metric, m.label_fr, m.label_en, m.unit, a.kind, a.severity, a.opened_at,
       a.last_seen_at, a.closed_at, a.value, a.threshold, a.message, a.acknowledged_at, a.acknowledged_by,
       a.ack_comment, a.assignee, a.resolved_by, a.resolution,
       CASE WHEN a.closed_at IS NULL THEN alert_silenced(a.sensor_id, a.metric, now()) ELSE a.silenced END AS silenced,
       (a.closed_at IS NULL) AS is_open
  FROM alerts a
  LEFT JOIN metrics m ON m.metric = a.metric
 WHERE a.sensor_id = :sensor_id
 ORDER BY a.opened_at DESC, a.alert_id DESC
 LIMIT CAST(:limit AS integer)
