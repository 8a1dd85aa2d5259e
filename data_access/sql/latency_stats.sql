SELECT * FROM get_pipeline_latency_stats(CAST(:interval AS interval))
