-- Open alerts by severity (and how many of them are not acknowledged yet) for some sensors (NULL = all).
SELECT severity, count(*) AS open_alerts, count(*) FILTER (WHERE acknowledged_at IS NULL) AS unacknowledged
  FROM alerts
 WHERE closed_at IS NULL
   AND (CAST(:sensor_ids AS text[]) IS NULL OR sensor_id = ANY(CAST(:sensor_ids AS text[])))
 GROUP BY severity
