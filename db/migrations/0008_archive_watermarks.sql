-- Archives (DESIGN §8): where each archive stream has got to, so that every run copies only what is new.
--
-- One row per (target, stream): target = 'influx' or 'delta', stream = what is copied (raw, windows, bronze, ...).
-- `upto_time` is an instant of the source's commit clock (sensor_data.ingested_at, sensor_data_agg.updated_at,
-- quarantine.inserted_at): rows at or before it are archived. Advanced only after the
-- target acknowledged the rows, so a crash replays at most one run, which the targets absorb (InfluxDB: same
-- measurement/tags/time = same point; Delta: the commit carries the watermark as its transaction version).
CREATE TABLE archive_watermarks (
    target     text NOT NULL,
    stream     text NOT NULL,
    upto_time  timestamptz,
    rows_total bigint NOT NULL DEFAULT 0 CHECK (rows_total >= 0),
    runs       bigint NOT NULL DEFAULT 0 CHECK (runs >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, stream)
);

-- The quarantine's own clock is the message's received_at (a spooled message can be hours old when it is committed):
-- the archive needs the commit clock, as sensor_data.ingested_at has it. Existing rows get the migration instant.
ALTER TABLE quarantine ADD COLUMN inserted_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX quarantine_inserted_brin ON quarantine USING brin (inserted_at);

-- Incremental reads of raw rows by commit time. BRIN: ingested_at follows the physical order of an insert-only
-- table, so the index is a few pages and costs the writer next to nothing (a B-tree would on every row).
CREATE INDEX sensor_data_ingested_brin ON sensor_data USING brin (ingested_at);

GRANT SELECT, INSERT, UPDATE ON archive_watermarks TO madinina_writer;
GRANT SELECT ON archive_watermarks TO madinina_reader;
