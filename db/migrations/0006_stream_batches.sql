-- The Spark job's micro-batch log (ingestion/spark/sinks.py): one row per (query, batch_id) written in the
-- foreachBatch sink after the batch's data. A batch replayed after a restart (written, not yet committed in the
-- checkpoint) is found here and skipped: the sink is idempotent on batch_id. It also keeps the batch's counters
-- (received = stored + duplicates + quarantined) and late_dropped: readings stored raw that arrived after the
-- event-time watermark, so the windows Spark had already finalised do not include them (counted, never lost).
CREATE TABLE stream_batches (
    processor     text NOT NULL,
    query_id      text NOT NULL,
    batch_id      bigint NOT NULL,
    time          timestamptz NOT NULL DEFAULT now(),
    watermark     timestamptz,
    received      integer NOT NULL,
    stored        integer NOT NULL,
    duplicates    integer NOT NULL,
    quarantined   integer NOT NULL,
    late_dropped  integer NOT NULL,
    windows       integer NOT NULL,
    PRIMARY KEY (processor, query_id, batch_id)
);
CREATE INDEX stream_batches_time_idx ON stream_batches (time DESC);
GRANT SELECT, INSERT ON stream_batches TO madinina_writer;
GRANT SELECT ON stream_batches TO madinina_reader;
