-- Per-stage latency over time: p50 / p95 / p99 of the batches whose KPI row falls in each bucket of :step_s seconds
-- of [:start, :end) (the same percentiles as get_pipeline_latency_stats, per bucket).
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', k.time, timestamptz 'epoch') AS time, k.stage,
       count(*) AS samples,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY k.latency_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY k.latency_ms) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY k.latency_ms) AS p99_ms
  FROM pipeline_kpi k
 WHERE k.time >= :start AND k.time < :end
 GROUP BY 1, 2
 ORDER BY 1, 2
