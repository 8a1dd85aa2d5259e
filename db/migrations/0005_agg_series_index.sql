-- Series reads pick one window size (1 minute or 1 hour) for a few sensors of one metric over a range.
-- The primary key (sensor_id, metric, window_start, window_end) makes such a read visit every window size in the
-- range (60 one-minute windows per hour read): this index puts the size before the time, so a 30-day hourly
-- series reads only its 720 rows per sensor.
CREATE INDEX sensor_data_agg_series_idx
    ON sensor_data_agg (sensor_id, metric, (window_end - window_start), window_start);
