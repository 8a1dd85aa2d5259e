-- Readings stored per second over the last :seconds seconds, from the writer's own bookkeeping.
SELECT coalesce(sum(rows), 0) / CAST(:seconds AS double precision) AS readings_per_s,
       count(*) AS batches
  FROM pipeline_kpi
 WHERE stage = 'processor_to_db'
   AND time > CAST(:now AS timestamptz) - CAST(:seconds AS integer) * interval '1 second'
