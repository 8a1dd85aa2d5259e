-- TimescaleDB used as its users would (DESIGN §2 "compression and retention policies optional").
--
-- madinina_timescaledb(compress_after, raw_retention) makes the TimescaleDB branch what it should be and says
-- which branch the database is on ('timescaledb' or 'plain'). Idempotent: the migration runner calls it after
-- every run with the operator's settings (MADININA_COMPRESS_AFTER, MADININA_RAW_RETENTION), so:
--   * a database migrated on plain PostgreSQL before the extension was installed (0002 found none) is converted
--     in place on its first migrate with `timescaledb` preloaded: extension created, tables made hypertables
--     with their rows moved into chunks;
--   * changed settings replace the policies.
-- On plain PostgreSQL (extension not preloaded) it changes nothing and returns 'plain'.
--
-- Choices (measured, see docs/architecture.md "TimescaleDB branch" and docs/benchmarks.md):
--   * raw chunks of 6 hours: measured at the simulator's live rate (60 sensors, 231 readings/s = 20.0M rows/day,
--     187 bytes per row with the primary key and time index) a day of raw rows is 3.5 GiB; a 6-hour chunk with
--     its indexes is 0.87 GiB, within 25 % of a 4 GiB host (TimescaleDB's sizing rule: the chunk being written
--     and its indexes stay in memory), and the compression/retention policies act on quarter days;
--   * compression segmentby (sensor_id, metric), orderby time DESC: every dashboard read of raw rows names one
--     or a few sensors and one metric over a time range, newest first, so a query decompresses only the
--     segments it needs, already in order;
--   * aggregate rows (sensor_data_agg) stay uncompressed: the writer upserts into recent windows and they are
--     ~1/30 of the raw volume.
CREATE FUNCTION madinina_timescaledb(p_compress_after interval DEFAULT interval '7 days',
                                     p_raw_retention interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- Creating it needs the library preloaded; without that the server is the plain branch by choice.
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
           OR NOT ('timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'),
                                                                ' ', ''), ','))) THEN
            RETURN 'plain';
        END IF;
        CREATE EXTENSION timescaledb;
    END IF;
    IF p_compress_after IS NOT NULL AND p_compress_after <= interval '0' THEN
        RAISE EXCEPTION 'compress_after must be positive (got %)', p_compress_after USING ERRCODE = '22023';
    END IF;
    IF p_raw_retention IS NOT NULL AND p_raw_retention <= interval '0' THEN
        RAISE EXCEPTION 'raw retention must be positive (got %)', p_raw_retention USING ERRCODE = '22023';
    END IF;

    PERFORM create_hypertable('sensor_data', 'time', chunk_time_interval => interval '6 hours',
                              if_not_exists => true, migrate_data => true);
    PERFORM create_hypertable('sensor_data_agg', 'window_start', chunk_time_interval => interval '7 days',
                              if_not_exists => true, migrate_data => true);
    -- Only future chunks take the new interval; existing ones keep theirs (1 day from migration 0002).
    PERFORM set_chunk_time_interval('sensor_data', interval '6 hours');

    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                    WHERE hypertable_name = 'sensor_data' AND hypertable_schema = 'public' AND compression_enabled) THEN
        ALTER TABLE sensor_data SET (timescaledb.compress,
                                     timescaledb.compress_segmentby = 'sensor_id, metric',
                                     timescaledb.compress_orderby = 'time DESC');
    END IF;
    PERFORM remove_compression_policy('sensor_data', if_exists => true);
    IF p_compress_after IS NOT NULL THEN
        PERFORM add_compression_policy('sensor_data', compress_after => p_compress_after);
    END IF;

    PERFORM remove_retention_policy('sensor_data', if_exists => true);
    IF p_raw_retention IS NOT NULL THEN
        PERFORM add_retention_policy('sensor_data', drop_after => p_raw_retention);
    END IF;
    RETURN 'timescaledb';
END
$$;
REVOKE ALL ON FUNCTION madinina_timescaledb(interval, interval) FROM PUBLIC;
-- Not called here: db/migrate.py calls it after every run (this one included), with the operator's settings.
