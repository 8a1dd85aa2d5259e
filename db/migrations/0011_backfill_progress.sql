-- Backfill progress (issue 11): one row per backfill run, updated after every chunk it commits, so that the
-- dashboard can say on every page that history is still being written, how far it is (%) and when it should be
-- done (ETA), and `python -m ingestion status` can say it too. A run writes newest history first: `covered_from`
-- is the instant from which the history up to `range_end` is complete. A run whose process died stays 'running'
-- with an old `updated_at`: readers treat a row not updated for a minute as stale, not as running.
CREATE TABLE backfill_progress (
    run_id         text PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    state          text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'stopped')),
    phase          text NOT NULL DEFAULT '',
    range_start    timestamptz NOT NULL,
    range_end      timestamptz NOT NULL,
    readings_total bigint NOT NULL CHECK (readings_total >= 0),
    readings_done  bigint NOT NULL DEFAULT 0 CHECK (readings_done >= 0),
    stored         bigint NOT NULL DEFAULT 0 CHECK (stored >= 0),
    covered_from   timestamptz,
    eta_s          double precision,
    rate           double precision,
    message        text NOT NULL DEFAULT ''
);
CREATE INDEX backfill_progress_updated_idx ON backfill_progress (updated_at DESC);

GRANT SELECT, INSERT, UPDATE ON backfill_progress TO madinina_writer;
GRANT SELECT ON backfill_progress TO madinina_reader;
