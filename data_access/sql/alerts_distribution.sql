-- Alerts opened in [:start, :end) for some sensors (NULL = all), counted by kind, by commune and by hour of day in
-- Martinique time, each split by severity. `dimension` tells which grouping a row belongs to.
WITH opened AS (
    SELECT a.kind, coalesce(s.commune, '?') AS commune, a.severity,
           lpad(CAST(EXTRACT(hour FROM a.opened_at AT TIME ZONE 'America/Martinique') AS integer)::text, 2, '0')
               AS hour
      FROM alerts a
      LEFT JOIN sensors s ON s.sensor_id = a.sensor_id
     WHERE a.opened_at >= :start AND a.opened_at < :end
       AND (CAST(:sensor_ids AS text[]) IS NULL OR a.sensor_id = ANY(CAST(:sensor_ids AS text[])))
)
SELECT CASE WHEN GROUPING(kind) = 0 THEN 'kind' WHEN GROUPING(commune) = 0 THEN 'commune' ELSE 'hour' END
           AS dimension,
       CASE WHEN GROUPING(kind) = 0 THEN kind WHEN GROUPING(commune) = 0 THEN commune ELSE hour END AS key,
       severity, count(*) AS alerts
  FROM opened
 GROUP BY GROUPING SETS ((kind, severity), (commune, severity), (hour, severity))
 ORDER BY 1, 2, 3
