-- 0005's series index (sensor_id, metric, window_end - window_start, window_start) is replaced by the same key
-- restricted to the 1-hour windows, the only size whose reads need it. Every window row paid a second btree on
-- text keys for it (555 MB beside the primary key's 486 MB after a 7-day backfill), and the COPY of the windows was
-- two thirds of the backfill's database time: without it a 7-day backfill took 27.1 -> 19.9 s on plain PostgreSQL
-- and 43.9 -> 28.8 s on TimescaleDB (docs/benchmarks.md "Backfill and first start", issue 11).
-- Why only the hourly windows need an index of their own: the primary key (sensor_id, metric, window_start,
-- window_end) already reads one series over a time range; what it also visits are the windows of the other sizes
-- starting in that range. For 1-minute reads that is the 5-minute sliding windows (one per minute) and one 1-hour
-- window in sixty: twice the rows, over short ranges (the Live page's last two minutes, Trends' and the Sensor
-- page's 1-minute resolution, the historic anomaly rules). For 1-hour reads over days or months it is 120 other
-- windows per hour read: those keep an index, a partial one holding 1 row in 120 (2.5 MB at 7 days).
-- Reads name the size as a constant the planner folds (`window_end - window_start = interval '1 hour'`, or
-- `CAST(3600 AS integer) * interval '1 second'` with psycopg2's client-side parameters), so the predicate is proven
-- and the index used (checked with EXPLAIN on both branches, tests/integration/test_agg_indexes.py).
--
-- On TimescaleDB, create_hypertable had also given sensor_data_agg its default (window_start DESC) btree, a third
-- btree per window row that the plain branch does not have (0014's BRIN on window_start serves the reads by time
-- alone on both): it goes too (7-day backfill on TimescaleDB 20.8 -> 17.3 s, same run), so that both branches
-- keep the same indexes (DESIGN §2), and madinina_timescaledb() (0009) no longer creates default indexes when it
-- converts a plain database later (sensor_data's (time DESC) index comes from 0001 on both branches).
-- Dropping the parent's index drops the chunks'.
DROP INDEX IF EXISTS sensor_data_agg_series_idx;
DROP INDEX IF EXISTS sensor_data_agg_window_start_idx;
CREATE INDEX IF NOT EXISTS sensor_data_agg_hourly_idx
    ON sensor_data_agg (sensor_id, metric, window_start)
 WHERE window_end - window_start = interval '1 hour';

-- 0009's function, the same but for create_default_indexes => false (the indexes are the migrations').
CREATE OR REPLACE FUNCTION madinina_timescaledb(p_compress_after interval DEFAULT interval '7 days',
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
                              if_not_exists => true, migrate_data => true,
                              create_default_indexes => false);
    PERFORM create_hypertable('sensor_data_agg', 'window_start', chunk_time_interval => interval '7 days',
                              if_not_exists => true, migrate_data => true,
                              create_default_indexes => false);
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
