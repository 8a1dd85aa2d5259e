-- Throughput per bucket of :step_s seconds in [:start, :end), per processor and source, from each processor's own
-- durable record of its committed batches: ingest_ledger (the lite consumers `run` / `consume` / `consume-kafka`, and
-- the backfill; written in the batch's own transaction) and stream_batches (the Spark sink, one row per micro-batch).
-- Each batch is counted once, at its commit instant. `readings` = readings stored (duplicates left out); `received` =
-- what the transport handed over in its own unit: messages for the lite consumers, readings for the backfill and
-- Spark (see data_access.pipeline.RECEIVED_UNIT).
WITH batches AS (
    SELECT l.committed_at AS time, l.processor, l.source, l.stored, l.received
      FROM ingest_ledger l
     WHERE l.committed_at >= :start AND l.committed_at < :end
    UNION ALL
    SELECT b.time, b.processor, b.processor AS source, b.stored, b.received
      FROM stream_batches b
     WHERE b.time >= :start AND b.time < :end
)
SELECT date_bin(CAST(:step_s AS integer) * interval '1 second', b.time, timestamptz 'epoch') AS time,
       b.processor, b.source, sum(b.stored) AS readings, sum(b.received) AS received, count(*) AS batches
  FROM batches b
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3
