-- Per-stage latency over an explicit range [:start, :end) (custom ranges; presets use get_pipeline_latency_stats):
-- the same columns and percentiles as get_pipeline_latency_stats().
SELECT k.stage, count(*) AS samples, avg(k.latency_ms) AS avg_ms, min(k.latency_ms) AS min_ms,
       max(k.latency_ms) AS max_ms,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY k.latency_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY k.latency_ms) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY k.latency_ms) AS p99_ms
  FROM pipeline_kpi k
 WHERE k.time >= :start AND k.time < :end
 GROUP BY k.stage
 ORDER BY array_position(ARRAY['source_to_broker', 'broker_to_processor', 'processor_to_db', 'end_to_end'], k.stage)
