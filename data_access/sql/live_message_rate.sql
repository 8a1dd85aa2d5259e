-- Messages the live consumers received per second over the last :seconds seconds before :now, from the durable
-- ledger (ingest_ledger.received: what the transport handed over, one message per sensor and send). The backfill
-- writes readings, not messages, and is left out; so is the Spark job, which counts in stream_batches: no ledger
-- row in the period gives batches = 0 and the page says the rate is not measured.
SELECT coalesce(sum(received), 0) / CAST(:seconds AS double precision) AS messages_per_s, count(*) AS batches
  FROM ingest_ledger
 WHERE committed_at > CAST(:now AS timestamptz) - CAST(:seconds AS integer) * interval '1 second'
   AND committed_at <= CAST(:now AS timestamptz)
   AND processor <> 'backfill' AND source <> 'backfill'
