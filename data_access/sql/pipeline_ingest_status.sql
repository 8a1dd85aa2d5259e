-- The consumers' heartbeats (ingestion/service.py writes one row per consumer every few seconds while the database
-- is reachable): state, what waits in the local spool and since when, how old the heartbeat is.
SELECT s.consumer, s.host, s.pid, s.state, s.spool_depth, s.spool_bytes, s.spool_max_bytes, s.oldest_unsent_at,
       s.last_commit_at, s.last_error, s.updated_at, extract(epoch FROM now() - s.updated_at) AS heartbeat_age_s
  FROM ingest_status s
 ORDER BY s.consumer
