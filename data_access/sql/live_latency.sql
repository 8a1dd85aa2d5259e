-- End-to-end latency (event time -> stored) over the last :minutes minutes, from pipeline_kpi.
SELECT samples, avg_ms, p50_ms, p95_ms, p99_ms, max_ms
  FROM get_pipeline_latency_stats(CAST(:minutes AS integer) * interval '1 minute')
 WHERE stage = 'end_to_end'
