SELECT severity, count(*) AS open_alerts
  FROM alerts
 WHERE closed_at IS NULL
 GROUP BY severity
