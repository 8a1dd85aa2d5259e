-- Readings stored per bucket of :step_s seconds in [:start, :end), per processor, from pipeline_kpi. A batch has one
-- row per measured stage, all with the same `rows`: each batch is counted once, at its first recorded instant.
WITH batches AS (
    SELECT k.batch_id, k.processor, min(k.time) AS time, max(k.rows) AS rows
      FROM pipeline_kpi k
     WHERE k.time >= :start AND k.time < :end
     GROUP BY k.batch_id, k.processor
)
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', b.time, timestamptz 'epoch') AS time,
       b.processor, sum(b.rows) AS rows, count(*) AS batches
  FROM batches b
 GROUP BY 1, 2
 ORDER BY 1, 2
