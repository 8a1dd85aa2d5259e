-- Durable counts and consumer status (DESIGN §3 "Nothing stops, nothing is lost").
--
-- ingest_ledger: one row per committed batch, written in the SAME transaction as the batch's readings and
-- rejections, so the counts survive any crash and always match the data. `received` is what the transport handed
-- over (messages; for the backfill, readings), the rest is what became of it: readings stored / already present,
-- rejections newly quarantined / already quarantined, by reason. A batch drained from a consumer's local spool
-- carries the spool's id and its sequence range: UNIQUE (spool_id, last_seq) makes a batch replayed after a crash
-- (committed, not yet deleted from the spool) a no-op, so the ledger never counts it twice.
CREATE TABLE ingest_ledger (
    batch_id              text PRIMARY KEY,
    committed_at          timestamptz NOT NULL DEFAULT now(),
    processor             text NOT NULL,
    source                text NOT NULL,
    spool_id              text,
    first_seq             bigint,
    last_seq              bigint,
    received              integer NOT NULL CHECK (received >= 0),
    stored                integer NOT NULL CHECK (stored >= 0),
    duplicates            integer NOT NULL CHECK (duplicates >= 0),
    quarantined           integer NOT NULL CHECK (quarantined >= 0),
    quarantine_duplicates integer NOT NULL CHECK (quarantine_duplicates >= 0),
    by_reason             jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (spool_id, last_seq)
);
CREATE INDEX ingest_ledger_committed_idx ON ingest_ledger (committed_at DESC);

-- ingest_status: one row per running consumer (heartbeat every few seconds while the database is reachable):
-- its state, how much waits in its local spool and since when. The Pipeline page and `python -m ingestion status`
-- read it; the spool itself is on the consumer's disk.
CREATE TABLE ingest_status (
    consumer          text PRIMARY KEY,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    host              text NOT NULL DEFAULT '',
    pid               integer,
    state             text NOT NULL,
    spool_depth       bigint NOT NULL DEFAULT 0,
    spool_bytes       bigint NOT NULL DEFAULT 0,
    spool_max_bytes   bigint NOT NULL DEFAULT 0,
    oldest_unsent_at  timestamptz,
    last_commit_at    timestamptz,
    last_error        text NOT NULL DEFAULT ''
);

-- The catalogue is read from sensors/metrics by every processor; tell them at once when an operator changes it
-- (they also re-read it every 30 s, so a missed notification only delays the change).
CREATE FUNCTION notify_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('madinina_catalogue', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER sensors_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sensors
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();
CREATE TRIGGER metrics_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON metrics
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();

GRANT SELECT, INSERT ON ingest_ledger TO madinina_writer;
GRANT SELECT, INSERT, UPDATE ON ingest_status TO madinina_writer;
GRANT SELECT ON ingest_ledger, ingest_status TO madinina_reader;
