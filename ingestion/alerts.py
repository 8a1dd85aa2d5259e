"""The alerts engine: one statement evaluates every condition and reconciles the alerts table.

Conditions (from sensor_latest, sensors, metrics and the windowed aggregates):
- threshold: latest value beyond the metric's warn/crit thresholds (battery excluded: it has its own kind);
- battery:   latest battery below its warn/crit thresholds;
- fault:     the device reported FAULT on its latest reading;
- offline:   a sensor seen before is silent beyond max(20 x expected_interval_s, 120 s);
- anomaly:   stuck value (a full 5-minute window with >= 30 readings all equal, for metrics that are never
             naturally flat) or spike (the last complete minute holds a value > 6 sigma from its 5-minute mean).
One open alert per (sensor, metric, kind): a persisting condition updates last_seen_at (and severity, value);
a condition that cleared closes its alert. Acknowledgement (dashboard) is independent of closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Metrics that can legitimately stay constant for minutes (lights off by day, no rain, full car park...).
STUCK_ELIGIBLE = (
    "temperature",
    "humidity",
    "pressure",
    "pm10",
    "pm25",
    "no2",
    "o3",
    "noise",
    "co2",
    "traffic_speed",
    "wind_speed",
)
SPIKE_SIGMA = 6.0
STUCK_MIN_COUNT = 30

_EVALUATE = """
WITH params AS (
    SELECT CAST(%(now)s AS timestamptz) AS now,
           date_bin(interval '1 minute', CAST(%(now)s AS timestamptz), timestamptz 'epoch') AS minute
), latest AS (
    SELECT l.sensor_id, l.metric, l.value, l.status, l.time, m.label_fr, m.unit,
           m.warn_low, m.warn_high, m.crit_low, m.crit_high
      FROM sensor_latest l
      JOIN metrics m ON m.metric = l.metric
      JOIN sensors s ON s.sensor_id = l.sensor_id AND s.active
), conditions_all AS (
    SELECT sensor_id, metric, CASE WHEN metric = 'battery' THEN 'battery' ELSE 'threshold' END AS kind,
           status AS severity, value,
           CASE WHEN status = 'critical'
                THEN CASE WHEN crit_high IS NOT NULL AND value > crit_high THEN crit_high ELSE crit_low END
                ELSE CASE WHEN warn_high IS NOT NULL AND value > warn_high THEN warn_high ELSE warn_low END
           END AS threshold,
           format('%%s : %%s %%s', label_fr, round(value::numeric, 2), unit) AS message, 1 AS rank
      FROM latest
     WHERE status IN ('warning', 'critical')
    UNION ALL
    SELECT sensor_id, metric, 'fault', 'warning', value, NULL, format('%%s : capteur en défaut', label_fr), 1
      FROM latest
     WHERE status = 'fault'
    UNION ALL
    SELECT s.sensor_id, NULL, 'offline', 'critical', NULL, s.expected_interval_s,
           format('Aucune lecture depuis %%s s', round(EXTRACT(EPOCH FROM p.now - ls.last_time))), 1
      FROM sensors s
      JOIN (SELECT sensor_id, max(time) AS last_time FROM sensor_latest GROUP BY sensor_id) ls
        ON ls.sensor_id = s.sensor_id
     CROSS JOIN params p
     WHERE s.active
       AND p.now - ls.last_time > greatest(20 * s.expected_interval_s, 120) * interval '1 second'
    UNION ALL
    SELECT a.sensor_id, a.metric, 'anomaly', 'warning', a.max, NULL,
           format('Valeur figée à %%s depuis 5 min (%%s lectures)', round(a.max::numeric, 2), a.count), 2
      FROM sensor_data_agg a
     CROSS JOIN params p
     WHERE a.window_end = p.minute
       AND a.window_end - a.window_start = interval '5 minutes'
       AND a.metric = ANY(%(stuck_metrics)s)
       AND a.count >= %(stuck_min_count)s
       AND a.min = a.max
    UNION ALL
    SELECT w1.sensor_id, w1.metric, 'anomaly', 'warning',
           CASE WHEN w1.max - w5.avg >= w5.avg - w1.min THEN w1.max ELSE w1.min END, w5.avg,
           format('Pic : %%s s''écarte de plus de %%s sigma de la moyenne 5 min (%%s)',
                  round((CASE WHEN w1.max - w5.avg >= w5.avg - w1.min THEN w1.max ELSE w1.min END)::numeric, 2),
                  %(spike_sigma)s, round(w5.avg::numeric, 2)), 1
      FROM sensor_data_agg w1
      JOIN sensor_data_agg w5
        ON w5.sensor_id = w1.sensor_id AND w5.metric = w1.metric
       AND w5.window_end = w1.window_end AND w5.window_end - w5.window_start = interval '5 minutes'
     CROSS JOIN params p
     WHERE w1.window_end = p.minute
       AND w1.window_end - w1.window_start = interval '1 minute'
       AND w5.count >= 10 AND w5.stddev > 0
       AND greatest(w1.max - w5.avg, w5.avg - w1.min) > %(spike_sigma)s * w5.stddev
), conditions AS (
    SELECT DISTINCT ON (sensor_id, coalesce(metric, ''), kind) *
      FROM conditions_all
     ORDER BY sensor_id, coalesce(metric, ''), kind, rank
), upserted AS (
    INSERT INTO alerts AS a (sensor_id, metric, kind, severity, opened_at, last_seen_at, value, threshold, message)
    SELECT c.sensor_id, c.metric, c.kind, c.severity, p.now, p.now, c.value, c.threshold, c.message
      FROM conditions c CROSS JOIN params p
    ON CONFLICT (sensor_id, coalesce(metric, ''), kind) WHERE closed_at IS NULL
    DO UPDATE SET last_seen_at = excluded.last_seen_at, severity = excluded.severity, value = excluded.value,
                  threshold = excluded.threshold, message = excluded.message
    RETURNING (xmax = 0) AS inserted
), closed AS (
    UPDATE alerts a
       SET closed_at = p.now
      FROM params p
     WHERE a.closed_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM conditions c
                        WHERE c.sensor_id = a.sensor_id AND coalesce(c.metric, '') = coalesce(a.metric, '')
                          AND c.kind = a.kind)
    RETURNING 1
)
SELECT (SELECT count(*) FILTER (WHERE inserted) FROM upserted),
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM upserted),
       (SELECT count(*) FROM closed)
"""


@dataclass(frozen=True)
class AlertsOutcome:
    opened: int
    still_open: int
    closed: int


def evaluate(conn, *, now: datetime | None = None) -> AlertsOutcome:
    """Evaluate every condition at `now` (default: the database's now()) and commit."""
    with conn.cursor() as cur:
        if now is None:
            cur.execute("SELECT now()")
            now = cur.fetchone()[0]
        cur.execute(
            _EVALUATE,
            {
                "now": now,
                "stuck_metrics": list(STUCK_ELIGIBLE),
                "stuck_min_count": STUCK_MIN_COUNT,
                "spike_sigma": SPIKE_SIGMA,
            },
        )
        opened, still_open, closed = cur.fetchone()
    conn.commit()
    return AlertsOutcome(int(opened), int(still_open), int(closed))
