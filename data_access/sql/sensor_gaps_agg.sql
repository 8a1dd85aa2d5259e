-- Gaps of one sensor in [:start, :end) from its 1-minute windows (long ranges, where reading every raw row would
-- cost too much): a gap runs from the end of a window with readings to the start of the next one, and is kept when
-- it lasts at least max(:factor x max(the metric's stored step, expected_interval_s), :min_s) seconds. The range edges count as readings. Same
-- columns as sensor_gaps_raw.sql.
WITH s AS (  -- the step each metric is stored at (data_access.sensor.stored_steps); :default_s for the others
    SELECT * FROM unnest(CAST(:step_metrics AS text[]), CAST(:step_s AS integer[])) AS s(metric, step_s)
), e AS (  -- never below the interval the sensor is expected to report at
    SELECT expected_interval_s FROM sensors WHERE sensor_id = :sensor_id
), m AS (
    SELECT metric FROM sensor_latest WHERE sensor_id = :sensor_id
), pts AS (
    SELECT a.metric, a.window_start, a.window_end
      FROM sensor_data_agg a
     WHERE a.sensor_id = :sensor_id
       AND a.window_end - a.window_start = interval '1 minute'
       AND a.window_start >= :start AND a.window_start < :end
    UNION ALL
    SELECT m.metric, CAST(:start AS timestamptz), CAST(:start AS timestamptz) FROM m
    UNION ALL
    SELECT m.metric, CAST(:end AS timestamptz), CAST(:end AS timestamptz) FROM m
), seq AS (
    SELECT metric, lag(window_end) OVER (PARTITION BY metric ORDER BY window_start, window_end) AS gap_start,
           window_start AS gap_end
      FROM pts
), gaps AS (
    SELECT seq.metric, seq.gap_start, seq.gap_end, EXTRACT(EPOCH FROM (seq.gap_end - seq.gap_start)) AS duration_s
      FROM seq CROSS JOIN e LEFT JOIN s ON s.metric = seq.metric
     WHERE seq.gap_start IS NOT NULL
       AND seq.gap_end - seq.gap_start
           >= greatest(CAST(:factor AS integer)
                       * greatest(coalesce(s.step_s, CAST(:default_s AS integer)), e.expected_interval_s),
                       CAST(:min_s AS integer)) * interval '1 second'
), ranked AS (
    SELECT gaps.*, count(*) OVER (PARTITION BY metric) AS metric_gaps,
           sum(duration_s) OVER (PARTITION BY metric) AS metric_gap_s,
           row_number() OVER (PARTITION BY metric ORDER BY duration_s DESC, gap_start) AS rank
      FROM gaps
)
SELECT metric, gap_start, gap_end, duration_s, metric_gaps, metric_gap_s
  FROM ranked
 WHERE rank <= CAST(:limit AS integer)
 ORDER BY metric, duration_s DESC, gap_start
