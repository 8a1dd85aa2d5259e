-- Per metric, over the given sensors (NULL = all): mean of the last complete 1-minute window before :now and of
-- the window before it (the delta shown on the Live page), how many sensors reported in the last one and how many
-- readings they sent in it (the Live page's readings/s follows the filters from these).
WITH bounds AS (
    SELECT date_bin(interval '1 minute', CAST(:now AS timestamptz), timestamptz 'epoch') AS cur_end
)
SELECT a.metric, m.label_fr, m.label_en, m.unit,
       sum(a.sum_value) FILTER (WHERE a.window_start = b.cur_end - interval '1 minute')
         / nullif(sum(a.count) FILTER (WHERE a.window_start = b.cur_end - interval '1 minute'), 0) AS current,
       sum(a.sum_value) FILTER (WHERE a.window_start = b.cur_end - interval '2 minutes')
         / nullif(sum(a.count) FILTER (WHERE a.window_start = b.cur_end - interval '2 minutes'), 0) AS previous,
       count(DISTINCT a.sensor_id) FILTER (WHERE a.window_start = b.cur_end - interval '1 minute') AS sensors,
       coalesce(sum(a.count) FILTER (WHERE a.window_start = b.cur_end - interval '1 minute'), 0) AS readings,
       b.cur_end - interval '1 minute' AS window_start
  FROM sensor_data_agg a
  CROSS JOIN bounds b
  JOIN metrics m ON m.metric = a.metric
 WHERE a.window_end - a.window_start = interval '1 minute'
   AND a.window_start >= b.cur_end - interval '2 minutes'
   AND a.window_start < b.cur_end
   AND (CAST(:sensor_ids AS text[]) IS NULL OR a.sensor_id = ANY(CAST(:sensor_ids AS text[])))
 GROUP BY a.metric, m.label_fr, m.label_en, m.unit, b.cur_end
 ORDER BY a.metric
