-- Windowed means of some metrics for some sensors from the raw readings: buckets of :window_s seconds aligned on
-- :origin (a Martinique midnight, so 6-hour and 1-day windows start at local 00:00), readings in [:start, :end).
SELECT date_bin(CAST(:window_s AS integer) * interval '1 second', d.time, CAST(:origin AS timestamptz)) AS time,
       d.sensor_id, d.metric, avg(d.value) AS value, min(d.value) AS min, max(d.value) AS max, count(*) AS count
  FROM sensor_data d
 WHERE d.metric = ANY(CAST(:metrics AS text[]))
   AND d.sensor_id = ANY(CAST(:sensor_ids AS text[]))
   AND d.time >= :start AND d.time < :end
 GROUP BY 1, 2, 3
 ORDER BY 3, 2, 1
