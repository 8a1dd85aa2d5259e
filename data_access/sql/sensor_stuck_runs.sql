-- Stuck values of one sensor in [:start, :end): runs of at least :min_run consecutive raw readings of a metric with
-- exactly the same value (gaps and islands). Runs at the metric's physical floor or ceiling (valid_min / valid_max:
-- 0 mm/h of rain, street lights off by day, a full car park) repeat legitimately and are left out, and so is the
-- battery: reported to 0.1 %, it keeps the same value for an hour or more (its own panel follows its trend).
WITH r AS (
    SELECT d.metric, d.time, d.value,
           CASE WHEN d.value = lag(d.value) OVER w THEN 0 ELSE 1 END AS brk
      FROM sensor_data d
     WHERE d.sensor_id = :sensor_id AND d.time >= :start AND d.time < :end AND d.metric <> 'battery'
    WINDOW w AS (PARTITION BY d.metric ORDER BY d.time)
), g AS (
    SELECT metric, time, value, sum(brk) OVER (PARTITION BY metric ORDER BY time ROWS UNBOUNDED PRECEDING) AS grp
      FROM r
)
SELECT g.metric, min(g.value) AS value, min(g.time) AS run_start, max(g.time) AS run_end, count(*) AS readings,
       EXTRACT(EPOCH FROM (max(g.time) - min(g.time))) AS duration_s
  FROM g
  JOIN metrics m ON m.metric = g.metric
 GROUP BY g.metric, g.grp
HAVING count(*) >= CAST(:min_run AS integer)
   AND min(g.value) <> min(m.valid_min) AND min(g.value) <> min(m.valid_max)
 ORDER BY readings DESC, run_start
 LIMIT CAST(:limit AS integer)
