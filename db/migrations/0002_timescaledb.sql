-- TimescaleDB branch: when the extension can be created, raw and aggregate tables become hypertables.
-- On plain PostgreSQL this migration only records that the extension is absent; queries use date_bin,
-- which gives the same buckets as time_bucket on both.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            -- e.g. available but not in shared_preload_libraries: stay on the plain branch, loudly.
            RAISE WARNING 'timescaledb is available but could not be created (%); staying on plain tables', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('sensor_data', 'time', chunk_time_interval => interval '1 day',
                                  if_not_exists => true, migrate_data => true);
        PERFORM create_hypertable('sensor_data_agg', 'window_start', chunk_time_interval => interval '7 days',
                                  if_not_exists => true, migrate_data => true);
    END IF;
END
$$;
