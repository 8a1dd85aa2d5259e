-- sensor_data_agg_metric_window_idx (metric, window_start), from 0001, goes: every window row the writer and the
-- backfill store paid a third btree on text keys for it (the COPY of a backfill's windows: ~75 % of each chunk's
-- database time is index maintenance, docs/benchmarks.md "Backfill and first start"), and no read needs it any more:
-- the Live page's overview (live_kpis.sql) probes each series by key instead (measured with and without it:
-- docs/benchmarks.md "Live: six statements per refresh"), and every other read of the table was EXPLAINed on both
-- branches after a 7-day backfill, with and without it ("Backfill and first start"): each is served by the primary
-- key or 0005's series index, or scans either way, except the archive's read of one event day
-- (ingestion/archive/source.py, a window_start range), which used the index's second column on plain PostgreSQL and
-- fell back to a scan of the whole table (0.62 s -> 0.97 s a day at 7 days, growing with the history). A BRIN index
-- on window_start serves it instead (0.58 s; 40 kB for 4.7M windows, next to nothing to maintain: windows are written
-- in time order by the live writer and in day chunks by the backfill). On TimescaleDB the hypertable keeps its own
-- window_start btree too; the BRIN is created on both branches so that they keep the same indexes (DESIGN §2).
-- Dropping the parent's index drops the chunks'.
DROP INDEX IF EXISTS sensor_data_agg_metric_window_idx;
CREATE INDEX IF NOT EXISTS sensor_data_agg_window_start_brin ON sensor_data_agg USING brin (window_start);
