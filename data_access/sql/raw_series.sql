-- Raw readings of one metric for some sensors, bucketed to :step_s seconds (1 = untouched resolution).
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', d.time, timestamptz 'epoch') AS time,
       d.sensor_id, avg(d.value) AS value, min(d.value) AS min, max(d.value) AS max, count(*) AS count
  FROM sensor_data d
 WHERE d.metric = :metric
   AND d.sensor_id = ANY(CAST(:sensor_ids AS text[]))
   AND d.time >= :start AND d.time < :end
 GROUP BY 1, 2
 ORDER BY 2, 1
