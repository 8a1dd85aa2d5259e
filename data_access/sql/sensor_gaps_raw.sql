-- Gaps in the raw readings of one sensor in [:start, :end): per metric the sensor reports, every period of at
-- least max(:factor x max(the metric's stored step, expected_interval_s), :min_s) seconds without a reading. The range edges count as readings,
-- so a silence at the start or the end of the range is a gap too. Per metric: the :limit longest gaps, with the
-- number and total duration of all of them.
WITH s AS (  -- the step each metric is stored at (data_access.sensor.stored_steps); :default_s for the others
    SELECT * FROM unnest(CAST(:step_metrics AS text[]), CAST(:step_s AS integer[])) AS s(metric, step_s)
), e AS (  -- never below the interval the sensor is expected to report at
    SELECT expected_interval_s FROM sensors WHERE sensor_id = :sensor_id
), m AS (
    SELECT metric FROM sensor_latest WHERE sensor_id = :sensor_id
), pts AS (
    SELECT d.metric, d.time
      FROM sensor_data d
     WHERE d.sensor_id = :sensor_id AND d.time >= :start AND d.time < :end
    UNION ALL
    SELECT m.metric, CAST(:start AS timestamptz) FROM m
    UNION ALL
    SELECT m.metric, CAST(:end AS timestamptz) FROM m
), seq AS (
    SELECT metric, lag(time) OVER (PARTITION BY metric ORDER BY time) AS gap_start, time AS gap_end
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
