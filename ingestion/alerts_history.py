"""Alerts over stored history: what the live engine (ingestion/alerts.py) would have opened and closed had it
been running while the readings of [start, end) arrived, derived set-wise in SQL and inserted closed, in the past.

The live engine evaluates its conditions every few seconds on the newest data; history arrives all at once (the
backfill), so its conditions are replayed over time here, with the same rules:
- threshold / battery: a run of consecutive readings of a series whose status is warning or critical
  (battery: metric battery) opens at its first reading, is last seen at its last, closes at the next reading;
  severity, value, threshold and message are those of its last reading (the live engine updates them each time);
- fault: the same with status fault (severity warning);
- offline: a sensor without any reading for more than max(20 x expected_interval_s, 120 s) opens when that
  limit passes after its last reading and closes at its next reading;
- anomaly: the minutes at which a 5-minute window ending then is stuck (>= STUCK_MIN_COUNT readings all equal,
  eligible metrics) or its last minute holds a spike (> SPIKE_SIGMA sigma from the 5-minute mean, >= 10
  readings); consecutive minutes make one alert, closed the minute the condition no longer holds. These need
  >= 10 readings per 5 minutes: history at one reading per minute cannot trigger them, exactly as live data at
  that rate could not.
Only episodes that ended inside the range are inserted (an episode still going on at `end` is the live engine's
to open); an episode overlapping an alert already stored for the same (sensor, metric, kind) is skipped, so a
second evaluation of the same range, or of a range the live engine saw, adds nothing. Only the contract columns
of `alerts` are written (DESIGN §2), as plain closed rows: nothing is notified for them.
"""

from __future__ import annotations

from datetime import datetime

from ingestion.alerts import SPIKE_SIGMA, STUCK_ELIGIBLE, STUCK_MIN_COUNT

_READING_EPISODES = """
-- A reading's next one comes from lead() over its series' readings in [start, end), constant bounds (TimescaleDB
-- excludes the raw chunks outside the range when planning), not from a LATERAL probe per non-ok reading: on a
-- hypertable each probe paid runtime chunk exclusion over every chunk (0.15 ms x 146k non-ok readings = 22-25 s
-- of a 7-day backfill; now 2-2.6 s, plain unchanged at 3.3 s: docs/benchmarks.md "Backfill and first start").
WITH series AS (  -- the series with a reading that is not ok in the range
    SELECT DISTINCT d.sensor_id, d.metric FROM sensor_data d
     WHERE d.time >= %(start)s AND d.time < %(end)s AND d.status <> 'ok'
       AND (CAST(%(sensors)s AS text[]) IS NULL OR d.sensor_id = ANY(CAST(%(sensors)s AS text[])))
), ordered AS (  -- each of their readings with the series' next one in the range
    SELECT d.sensor_id, d.metric, d.time, d.value, d.status, k.kind,
           lead(d.time) OVER w AS next_time, lead(k.kind) OVER w AS next_kind
      FROM series s
      JOIN sensor_data d ON d.sensor_id = s.sensor_id AND d.metric = s.metric
                        AND d.time >= %(start)s AND d.time < %(end)s
     CROSS JOIN LATERAL (SELECT CASE WHEN d.status = 'ok' THEN 'ok' WHEN d.status = 'fault' THEN 'fault'
                                     WHEN d.metric = 'battery' THEN 'battery' ELSE 'threshold' END AS kind) k
    WINDOW w AS (PARTITION BY d.sensor_id, d.metric ORDER BY d.time)
), probed AS (  -- does the episode go on at the next reading?
    SELECT o.*, o.next_time IS NULL OR o.next_kind <> o.kind AS ends FROM ordered o WHERE o.kind <> 'ok'
), numbered AS (
    SELECT p.*, count(*) FILTER (WHERE p.ends) OVER (PARTITION BY p.sensor_id, p.metric, p.kind ORDER BY p.time
                                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS episode
      FROM probed p
)
SELECT n.sensor_id, n.metric, n.kind, min(n.time) AS opened_at,
       (array_agg(n.time ORDER BY n.time DESC))[1] AS last_seen_at,
       (array_agg(n.next_time ORDER BY n.time DESC))[1] AS closed_at,
       (array_agg(CASE WHEN n.kind = 'fault' THEN 'warning' ELSE n.status END ORDER BY n.time DESC))[1] AS severity,
       (array_agg(n.value ORDER BY n.time DESC))[1] AS value
  FROM numbered n
 GROUP BY n.sensor_id, n.metric, n.kind, coalesce(n.episode, 0)
"""

_OFFLINE_EPISODES = """
WITH firsts AS (  -- one metric per sensor: a sensor's record carries all its metrics
    SELECT DISTINCT ON (sensor_id) sensor_id, metric FROM sensor_latest
     WHERE CAST(%(sensors)s AS text[]) IS NULL OR sensor_id = ANY(CAST(%(sensors)s AS text[]))
     ORDER BY sensor_id, metric
), times AS (
    SELECT f.sensor_id, d.time, lead(d.time) OVER (PARTITION BY f.sensor_id ORDER BY d.time) AS next_time
      FROM firsts f
      JOIN sensor_data d ON d.sensor_id = f.sensor_id AND d.metric = f.metric
     WHERE d.time >= %(start)s AND d.time < %(end)s
)
SELECT t.sensor_id, NULL::text AS metric, 'offline' AS kind,
       t.time + greatest(20 * s.expected_interval_s, 120) * interval '1 second' AS opened_at,
       t.next_time AS last_seen_at, t.next_time AS closed_at, 'critical' AS severity, NULL::double precision AS value,
       s.expected_interval_s::double precision AS threshold,
       format('Aucune lecture depuis %%s s', round(EXTRACT(EPOCH FROM t.next_time - t.time))) AS message
  FROM times t
  JOIN sensors s ON s.sensor_id = t.sensor_id
 WHERE t.next_time - t.time > greatest(20 * s.expected_interval_s, 120) * interval '1 second'
   AND NOT EXISTS (SELECT 1 FROM sensor_data o  -- another metric was heard meanwhile: not offline
                    WHERE o.sensor_id = t.sensor_id AND o.time > t.time AND o.time < t.next_time)
"""

_ANOMALY_EPISODES = """
WITH minutes AS (
    SELECT a.sensor_id, a.metric, a.window_end AS m, a.max AS value, NULL::double precision AS threshold,
           format('Valeur figée à %%s depuis 5 min (%%s lectures)', round(a.max::numeric, 2), a.count) AS message,
           2 AS rank
      FROM sensor_latest l
      JOIN sensor_data_agg a  -- per series, a primary-key range (sensor, metric, start), not a scan of every window
        ON a.sensor_id = l.sensor_id AND a.metric = l.metric
       AND a.window_end - a.window_start = interval '5 minutes'
       AND a.window_start > %(start)s - interval '5 minutes' AND a.window_start <= %(end)s - interval '5 minutes'
     WHERE l.metric = ANY(%(stuck_metrics)s) AND a.count >= %(stuck_min_count)s AND a.min = a.max
       AND (CAST(%(sensors)s AS text[]) IS NULL OR l.sensor_id = ANY(CAST(%(sensors)s AS text[])))
    UNION ALL
    SELECT w1.sensor_id, w1.metric, w1.window_end,
           CASE WHEN w1.max - w5.avg >= w5.avg - w1.min THEN w1.max ELSE w1.min END, w5.avg,
           format('Pic : %%s s''écarte de plus de %%s sigma de la moyenne 5 min (%%s)',
                  round((CASE WHEN w1.max - w5.avg >= w5.avg - w1.min THEN w1.max ELSE w1.min END)::numeric, 2),
                  %(spike_sigma)s, round(w5.avg::numeric, 2)), 1
      FROM sensor_latest l
      JOIN sensor_data_agg w1
        ON w1.sensor_id = l.sensor_id AND w1.metric = l.metric
       AND w1.window_end - w1.window_start = interval '1 minute'
       AND w1.window_start > %(start)s - interval '1 minute' AND w1.window_start <= %(end)s - interval '1 minute'
      JOIN sensor_data_agg w5
        ON w5.sensor_id = l.sensor_id AND w5.metric = l.metric
       AND w5.window_start = w1.window_end - interval '5 minutes' AND w5.window_end = w1.window_end
     WHERE w5.count >= 10 AND w5.stddev > 0
       AND greatest(w1.max - w5.avg, w5.avg - w1.min) > %(spike_sigma)s * w5.stddev
       AND (CAST(%(sensors)s AS text[]) IS NULL OR l.sensor_id = ANY(CAST(%(sensors)s AS text[])))
), chosen AS (
    SELECT DISTINCT ON (sensor_id, metric, m) * FROM minutes ORDER BY sensor_id, metric, m, rank
), runs AS (
    SELECT c.*, c.m - row_number() OVER (PARTITION BY c.sensor_id, c.metric ORDER BY c.m) * interval '1 minute'
               AS run
      FROM chosen c
)
SELECT r.sensor_id, r.metric, 'anomaly' AS kind, min(r.m) AS opened_at, max(r.m) AS last_seen_at,
       max(r.m) + interval '1 minute' AS closed_at, 'warning' AS severity,
       (array_agg(r.value ORDER BY r.m DESC))[1] AS value, (array_agg(r.threshold ORDER BY r.m DESC))[1] AS threshold,
       (array_agg(r.message ORDER BY r.m DESC))[1] AS message
  FROM runs r
 GROUP BY r.sensor_id, r.metric, r.run
HAVING max(r.m) + interval '1 minute' <= %(end)s
"""

# Same value/threshold/message as the live engine's for a reading of that status (ingestion/alerts.py).
_FROM_READINGS = f"""
SELECT e.sensor_id, e.metric, e.kind, e.opened_at, e.last_seen_at, e.closed_at, e.severity, e.value,
       CASE WHEN e.kind = 'fault' THEN NULL
            WHEN e.severity = 'critical'
            THEN CASE WHEN m.crit_high IS NOT NULL AND e.value > m.crit_high THEN m.crit_high ELSE m.crit_low END
            ELSE CASE WHEN m.warn_high IS NOT NULL AND e.value > m.warn_high THEN m.warn_high ELSE m.warn_low END
       END AS threshold,
       CASE WHEN e.kind = 'fault' THEN format('%%s : capteur en défaut', m.label_fr)
            ELSE format('%%s : %%s %%s', m.label_fr, round(e.value::numeric, 2), m.unit) END AS message
  FROM ({_READING_EPISODES}) e
  JOIN metrics m ON m.metric = e.metric
 WHERE e.closed_at IS NOT NULL
"""

_INSERT = """
INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at, value, threshold, message)
SELECT e.sensor_id, e.metric, e.kind, e.severity, e.opened_at, e.last_seen_at, e.closed_at, e.value, e.threshold,
       e.message
  FROM ({episodes}) e
 WHERE NOT EXISTS (SELECT 1 FROM alerts a
                    WHERE a.sensor_id = e.sensor_id AND coalesce(a.metric, '') = coalesce(e.metric, '')
                      AND a.kind = e.kind AND a.opened_at <= e.closed_at
                      AND coalesce(a.closed_at, 'infinity') >= e.opened_at)
"""


def evaluate_history(
    conn, *, start: datetime, end: datetime, anomalies: bool = True, sensors: list[str] | None = None
) -> int:
    """Insert the closed alerts of [start, end) of `sensors` (None: every sensor); returns how many were new. Does
    not commit (the caller's transaction: the backfill's retrying writer). Every episode belongs to one sensor, so
    disjoint sensor sets can be evaluated at once on separate connections (the backfill does, on its two)."""
    params = {
        "start": start,
        "end": end,
        "sensors": sensors,
        "stuck_metrics": list(STUCK_ELIGIBLE),
        "stuck_min_count": STUCK_MIN_COUNT,
        "spike_sigma": SPIKE_SIGMA,
    }
    inserted = 0
    with conn.cursor() as cur:
        for episodes in (_FROM_READINGS, _OFFLINE_EPISODES) + ((_ANOMALY_EPISODES,) if anomalies else ()):
            cur.execute(_INSERT.format(episodes=episodes), params)
            inserted += cur.rowcount
    return inserted
