"""The alerts engine: one statement evaluates every condition, reconciles the alerts table and appends the history.

Conditions (from sensor_latest, sensors, metrics and the windowed aggregates):
- threshold: latest value beyond the metric's warn/crit thresholds (battery excluded: it has its own kind);
- battery:   latest battery below its warn/crit thresholds;
- fault:     the device reported FAULT on its latest reading;
- offline:   a sensor seen before is silent beyond max(20 x expected_interval_s, 120 s);
- anomaly:   stuck value (a full 5-minute window with >= 30 readings all equal, for metrics that are never
             naturally flat) or spike (the last complete minute holds a value > 6 sigma from its 5-minute mean).

Reconciliation, one open alert per (sensor, metric, kind), each change appended to alert_events (actor `system`):
- a new condition opens an alert (`opened`) — unless the last alert of the same (sensor, metric, kind) closed or
  was resolved by an operator less than REOPEN_WITHIN ago: that alert is reopened instead (`reopened`), so a
  flapping condition, or one an operator resolved while it still holds, stays one alert with one history;
- a persisting condition updates last_seen_at, value and severity (`escalated` / `deescalated` when the severity
  changes) and the silenced flag (`silenced` / `unsilenced` when a silence starts or ends while it fires);
- a condition that cleared closes its alert (`closed`).
An alert opening or firing under a silence (alert_silences, migration 0010) is recorded like any other, marked
`silenced`, and its events are not notified. Acknowledgement, comments, assignment and manual resolution are the
dashboard's (SQL functions of migration 0010); the webhook notifier is ingestion/notify.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
# A condition returning less than this after its alert closed (or was resolved) reopens that alert.
REOPEN_WITHIN = timedelta(minutes=15)
# An evaluation at a `now` this far behind the database's clock describes the past: its events are historic.
HISTORIC_LAG = timedelta(minutes=5)
SEVERITY_ORDER = ("info", "warning", "critical")  # escalation = a move to the right
_ENGINE_LOCK = 4_862_010  # advisory lock: one evaluation at a time per database

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
), cond AS (
    SELECT c.sensor_id, c.metric, c.kind, c.severity, c.value, c.threshold, c.message,
           alert_silenced(c.sensor_id, c.metric, p.now) AS silenced
      FROM conditions c CROSS JOIN params p
), open_now AS (
    SELECT alert_id, sensor_id, metric, kind, severity, silenced FROM alerts WHERE closed_at IS NULL
), matched AS (  -- a condition whose alert is open: it persists
    SELECT c.*, o.alert_id, o.severity AS old_severity, o.silenced AS old_silenced
      FROM cond c
      JOIN open_now o ON o.sensor_id = c.sensor_id AND coalesce(o.metric, '') = coalesce(c.metric, '')
                     AND o.kind = c.kind
), fresh AS (  -- a condition without an open alert
    SELECT c.* FROM cond c
     WHERE NOT EXISTS (SELECT 1 FROM open_now o
                        WHERE o.sensor_id = c.sensor_id AND coalesce(o.metric, '') = coalesce(c.metric, '')
                          AND o.kind = c.kind)
), recent AS (  -- ... whose last alert closed (or was resolved) within the reopen window: reopened, not new
    SELECT DISTINCT ON (f.sensor_id, coalesce(f.metric, ''), f.kind) f.*, a.alert_id
      FROM fresh f
      JOIN alerts a ON a.sensor_id = f.sensor_id AND coalesce(a.metric, '') = coalesce(f.metric, '')
                   AND a.kind = f.kind AND a.closed_at IS NOT NULL
     CROSS JOIN params p
     WHERE a.closed_at > p.now - CAST(%(reopen_within)s AS interval) AND a.closed_at <= p.now
     ORDER BY f.sensor_id, coalesce(f.metric, ''), f.kind, a.closed_at DESC
), updated AS (
    UPDATE alerts a
       SET last_seen_at = p.now, severity = m.severity, value = m.value, threshold = m.threshold,
           message = m.message, silenced = m.silenced
      FROM matched m CROSS JOIN params p
     WHERE a.alert_id = m.alert_id
    RETURNING a.alert_id
), reopened AS (
    UPDATE alerts a
       SET closed_at = NULL, resolved_by = NULL, resolution = NULL, last_seen_at = p.now, severity = r.severity,
           value = r.value, threshold = r.threshold, message = r.message, silenced = r.silenced
      FROM recent r CROSS JOIN params p
     WHERE a.alert_id = r.alert_id
    RETURNING a.alert_id, a.sensor_id, a.metric, a.severity, a.silenced, a.value, a.threshold
), inserted AS (
    INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, value, threshold, message,
                        silenced)
    SELECT f.sensor_id, f.metric, f.kind, f.severity, p.now, p.now, f.value, f.threshold, f.message, f.silenced
      FROM fresh f CROSS JOIN params p
     WHERE NOT EXISTS (SELECT 1 FROM recent r
                        WHERE r.sensor_id = f.sensor_id AND coalesce(r.metric, '') = coalesce(f.metric, '')
                          AND r.kind = f.kind)
    ON CONFLICT (sensor_id, coalesce(metric, ''), kind) WHERE closed_at IS NULL DO NOTHING
    RETURNING alert_id, sensor_id, metric, severity, silenced, value, threshold
), closed AS (
    UPDATE alerts a
       SET closed_at = p.now
      FROM params p
     WHERE a.closed_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM conditions c
                        WHERE c.sensor_id = a.sensor_id AND coalesce(c.metric, '') = coalesce(a.metric, '')
                          AND c.kind = a.kind)
    RETURNING a.alert_id, a.sensor_id, a.metric, a.severity, a.silenced, a.value, a.threshold
), changes AS (
    SELECT alert_id, sensor_id, metric, severity, silenced, 'opened' AS action, 0 AS step,
           jsonb_build_object('value', value, 'threshold', threshold) AS details
      FROM inserted
    UNION ALL
    SELECT alert_id, sensor_id, metric, severity, silenced, 'reopened', 0,
           jsonb_build_object('value', value, 'threshold', threshold)
      FROM reopened
    UNION ALL
    SELECT alert_id, sensor_id, metric, severity, silenced, CASE WHEN silenced THEN 'silenced' ELSE 'unsilenced' END,
           1, '{}'::jsonb
      FROM matched WHERE silenced <> old_silenced
    UNION ALL
    SELECT alert_id, sensor_id, metric, severity, silenced,
           CASE WHEN array_position(%(severities)s, severity) > array_position(%(severities)s, old_severity)
                THEN 'escalated' ELSE 'deescalated' END,
           2, jsonb_build_object('from', old_severity, 'to', severity, 'value', value, 'threshold', threshold)
      FROM matched WHERE severity <> old_severity
    UNION ALL
    SELECT alert_id, sensor_id, metric, severity, silenced, 'closed', 3,
           jsonb_build_object('value', value, 'threshold', threshold)
      FROM closed
), events AS (
    INSERT INTO alert_events (alert_id, sensor_id, metric, at, actor, action, severity, silenced, historic, details)
    SELECT c.alert_id, c.sensor_id, c.metric, p.now, 'system', c.action, c.severity, c.silenced, %(historic)s,
           c.details
      FROM changes c CROSS JOIN params p
     ORDER BY c.alert_id, c.step
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM reopened), (SELECT count(*) FROM updated),
       (SELECT count(*) FROM closed), (SELECT count(*) FROM events)
"""


@dataclass(frozen=True)
class AlertsOutcome:
    opened: int
    reopened: int
    still_open: int
    closed: int
    events: int


def evaluate(conn, *, now: datetime | None = None, historic: bool | None = None) -> AlertsOutcome | None:
    """Evaluate every condition at `now` (default: the database's now()) and commit.

    `historic` marks the events written as describing the past, never notified (the webhook notifier skips them);
    by default it is True when `now` is more than HISTORIC_LAG before the database's clock (a backfill evaluating
    past data), False otherwise. Returns None, doing nothing, when another engine holds the evaluation lock: two
    engines on one database (e.g. `run` and `consume` side by side) must not append the same change twice."""
    with conn.cursor() as cur:
        cur.execute("SELECT now(), pg_try_advisory_xact_lock(%s)", (_ENGINE_LOCK,))
        db_now, locked = cur.fetchone()
        if not locked:
            conn.rollback()
            return None
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)  # a naive instant is UTC, as everywhere in ingestion
        if historic is None:
            historic = now is not None and now < db_now - HISTORIC_LAG
        cur.execute(
            _EVALUATE,
            {
                "now": now or db_now,
                "stuck_metrics": list(STUCK_ELIGIBLE),
                "stuck_min_count": STUCK_MIN_COUNT,
                "spike_sigma": SPIKE_SIGMA,
                "reopen_within": REOPEN_WITHIN,
                "severities": list(SEVERITY_ORDER),
                "historic": historic,
            },
        )
        opened, reopened, still_open, closed, events = cur.fetchone()
    conn.commit()
    return AlertsOutcome(int(opened), int(reopened), int(still_open), int(closed), int(events))
