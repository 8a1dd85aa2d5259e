-- Madinina Monitor — table contract of DESIGN.md §2 (plain PostgreSQL ≥ 15).
-- The TimescaleDB branch (hypertables) is migration 0002; both keep the same columns and indexes.

CREATE TABLE sensors (
    sensor_id           text PRIMARY KEY,
    name                text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('air_quality', 'weather', 'noise', 'traffic', 'parking',
                                                      'light', 'environment', 'sargassum')),
    commune             text NOT NULL,
    insee               text NOT NULL,
    latitude            double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude           double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    expected_interval_s integer NOT NULL DEFAULT 60 CHECK (expected_interval_s > 0),
    active              boolean NOT NULL DEFAULT true,
    installed_at        timestamptz NOT NULL DEFAULT now(),
    tags                text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE metrics (
    metric    text PRIMARY KEY,
    unit      text NOT NULL,
    label_fr  text NOT NULL,
    label_en  text NOT NULL,
    valid_min double precision NOT NULL,
    valid_max double precision NOT NULL CHECK (valid_max > valid_min),
    warn_low  double precision,
    warn_high double precision,
    crit_low  double precision,
    crit_high double precision
);

-- Raw readings. No foreign keys: the processors validate sensor and metric against the catalogue before
-- writing, and FK checks would cost a lookup per row on the hottest path.
CREATE TABLE sensor_data (
    time        timestamptz NOT NULL,
    sensor_id   text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    status      text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'warning', 'critical', 'fault')),
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, metric, time)
);
-- "latest rows by time" across all sensors (psql users, the pipeline page).
CREATE INDEX sensor_data_time_idx ON sensor_data (time DESC);

-- Windowed aggregates. sum_value/sum_sq make upserts exact: a late reading merges into its window
-- without re-reading the raw rows.
CREATE TABLE sensor_data_agg (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL CHECK (window_end > window_start),
    sensor_id    text NOT NULL,
    metric       text NOT NULL,
    avg          double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    count        bigint NOT NULL CHECK (count > 0),
    stddev       double precision,
    n_warning    integer NOT NULL DEFAULT 0,
    n_critical   integer NOT NULL DEFAULT 0,
    n_fault      integer NOT NULL DEFAULT 0,
    sum_value    double precision NOT NULL,
    sum_sq       double precision NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, metric, window_start, window_end)
);
CREATE INDEX sensor_data_agg_metric_window_idx ON sensor_data_agg (metric, window_start);

CREATE TABLE sensor_latest (
    sensor_id   text NOT NULL,
    metric      text NOT NULL,
    time        timestamptz NOT NULL,
    value       double precision NOT NULL,
    status      text NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, metric)
);

CREATE TABLE alerts (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor_id       text NOT NULL,
    metric          text,
    kind            text NOT NULL CHECK (kind IN ('threshold', 'offline', 'anomaly', 'battery', 'fault')),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    value           double precision,
    threshold       double precision,
    message         text NOT NULL DEFAULT '',
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_comment     text
);
-- One open alert per (sensor, metric, kind); a sensor-level alert (offline) has metric NULL.
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (sensor_id, coalesce(metric, ''), kind) WHERE closed_at IS NULL;
CREATE INDEX alerts_opened_idx ON alerts (opened_at DESC);

CREATE TABLE pipeline_kpi (
    time       timestamptz NOT NULL DEFAULT now(),
    stage      text NOT NULL CHECK (stage IN ('source_to_broker', 'broker_to_processor', 'processor_to_db',
                                              'end_to_end')),
    latency_ms double precision NOT NULL,
    rows       integer NOT NULL DEFAULT 0,
    batch_id   text NOT NULL,
    processor  text NOT NULL DEFAULT 'lite'
);
CREATE INDEX pipeline_kpi_time_idx ON pipeline_kpi (time DESC);

CREATE TABLE quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    source        text NOT NULL,
    payload       text NOT NULL CHECK (length(payload) <= 8192),
    reason        text NOT NULL,
    detail        text NOT NULL DEFAULT ''
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at DESC);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at DESC);

CREATE FUNCTION get_pipeline_latency_stats(p_interval interval)
RETURNS TABLE (stage text, samples bigint, avg_ms double precision, min_ms double precision,
               max_ms double precision, p50_ms double precision, p95_ms double precision,
               p99_ms double precision)
LANGUAGE sql STABLE AS $$
    SELECT k.stage,
           count(*),
           avg(k.latency_ms),
           min(k.latency_ms),
           max(k.latency_ms),
           percentile_cont(0.50) WITHIN GROUP (ORDER BY k.latency_ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY k.latency_ms),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY k.latency_ms)
      FROM pipeline_kpi k
     WHERE k.time >= now() - p_interval
     GROUP BY k.stage
     ORDER BY array_position(ARRAY['source_to_broker', 'broker_to_processor', 'processor_to_db',
                                   'end_to_end'], k.stage)
$$;
