"""Seeds shared by the Map, Sensor and Pipeline page tests (AppTest and browser): simulated history written by the
real writer, plus known alerts, pipeline_kpi samples and quarantined messages whose figures the tests check."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ingestion.catalogue import SENSORS
from ingestion.simulator import Simulator
from ingestion.writer import Writer

FDF_AQ = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "air_quality"]
FDF_WX = next(s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "weather")
# pipeline_kpi seeded per stage: latencies (ms) of 5 batches of 100 readings each, 10 minutes ago.
KPI_MS = {
    "source_to_broker": [10.0, 12.0, 14.0, 16.0, 18.0],
    "broker_to_processor": [20.0, 22.0, 24.0, 26.0, 28.0],
    "processor_to_db": [30.0, 40.0, 50.0, 60.0, 70.0],
    "end_to_end": [100.0, 200.0, 300.0, 400.0, 500.0],
}
KPI_ROWS = 100
KPI_MESSAGES = 25  # messages the transport handed over per lite batch (one message carries several readings)
BACKFILL_READINGS = 3000  # one backfill batch, 50 minutes ago
SPARK_BATCHES = ((40, 42), (60, 61))  # (stored, received) readings of two Spark micro-batches, 20 minutes ago
# Hostile text (tests of "text is text"): what a device, a user or an attacker could put in a sensor's name, id or
# town, an acknowledgement, a quarantined message. 127.0.0.1:9 (discard) is the beacon a rendered image would fetch.
LINK = "[Session expired – click here](https://evil.example/login)"
IMAGE = "![x](http://127.0.0.1:9/beacon.png)"
TAG = '<img src=x onerror="alert(1)">'
SCRIPT = "<script>alert(2)</script>"
FORMULA = '=HYPERLINK("https://evil.example","x")'
LATEX = r"$\frac{1}{2}$ :red[rouge] :material/warning:"
ANCHOR = '<a href="https://evil.example/a">a</a>'
HOSTILE = f"{LINK} {ANCHOR} {IMAGE} {TAG} {SCRIPT} {LATEX} {FORMULA}"
HOSTILE_ID = "mq-x<img src=x onerror=alert(3)>"
HOSTILE_COMMUNE = '=1+1 <b>Fort</b>[c](https://evil.example/c) <a href="https://evil.example/t">t</a>'
QUARANTINE = {  # reason: number of distinct messages, received within the last hour
    "unknown_sensor": 3,
    "out_of_range": 2,
}


def pinned_now() -> datetime:
    """The instant AppTests pin the dashboard clock to (components.clock, MADININA_DASHBOARD_NOW): 30 s into the
    minute before the current one. Always mid-minute, so "the last complete minute", a reading "1 s ago" and a
    sensor's age never depend on where the wall clock is in its minute; in the recent past, so the database's own
    now() (the writer's pipeline_kpi rows, get_pipeline_latency_stats) stays within a minute or two of it."""
    return datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=1)


def pin_clock(monkeypatch, moment: datetime) -> None:
    from components.clock import PIN_ENV

    monkeypatch.setenv(PIN_ENV, moment.isoformat())


def percentile_cont(values, q: float) -> float:
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = int(pos)
    return values[lo] + (values[min(lo + 1, len(values) - 1)] - values[lo]) * (pos - lo)


def seed_history(
    db_url: str, *, hours: float, step_s: float = 60, seed: int = 5, end_ago_s: float = 1, now: datetime | None = None
) -> None:
    """`hours` of simulated readings of every sensor (one per step, aligned on multiples of step_s), ending end_ago_s
    seconds before `now` (default: the wall clock)."""
    now = now.timestamp() if now is not None else time.time()
    with Writer(db_url) as writer:
        for batch in Simulator(seed=seed).history(now - hours * 3600, now - end_ago_s, step_s=step_s):
            writer.write(batch, timings=None)


def seed_alerts(conn, sensor_id: str, now: datetime | None = None) -> None:
    """Three alerts of one sensor: an open critical pm10, a closed warning no2, an open offline (times before `now`,
    default the database's now())."""
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, closed_at, value, threshold, message)
               SELECT s, 'pm10', 'threshold', 'critical', n - interval '40 minutes', NULL, 91, 80, 'PM10 > 80'
                 FROM (SELECT %(s)s AS s, coalesce(%(now)s, now()) AS n) x
               UNION ALL
               SELECT s, 'no2', 'threshold', 'warning', n - interval '5 hours', n - interval '4 hours', 230, 200,
                      'NO2 > 200' FROM (SELECT %(s)s AS s, coalesce(%(now)s, now()) AS n) x
               UNION ALL
               SELECT s, NULL, 'offline', 'warning', n - interval '2 hours', NULL, NULL, NULL, 'muet'
                 FROM (SELECT %(s)s AS s, coalesce(%(now)s, now()) AS n) x""",
            {"s": sensor_id, "now": now},
        )


def seed_pipeline(conn, now: datetime) -> None:
    """What each processor records of its batches, as the real ones write it: KPI_MS latencies of 5 lite batches
    (KPI_ROWS readings from KPI_MESSAGES MQTT messages each, 10 minutes ago) with their ingest_ledger rows, one
    backfill batch of BACKFILL_READINGS (ledger only: the backfill measures no latency), the SPARK_BATCHES
    micro-batches (stream_batches), and QUARANTINE messages."""
    rows = []
    base = (now - timedelta(minutes=10)).replace(second=10, microsecond=0)  # all 5 batches in the same minute
    for stage, values in KPI_MS.items():
        for k, value in enumerate(values):
            rows.append((base + timedelta(seconds=k), stage, value, KPI_ROWS, f"seed-{k}", "lite"))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id, processor) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        ledger = "INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates,"
        ledger += " quarantined, quarantine_duplicates) VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0)"
        cur.executemany(
            ledger,
            [(f"seed-{k}", base + timedelta(seconds=k), "lite", "mqtt", KPI_MESSAGES, KPI_ROWS) for k in range(5)],
        )
        back = now - timedelta(minutes=50)
        cur.execute(ledger, ("seed-backfill", back, "backfill", "backfill", BACKFILL_READINGS, BACKFILL_READINGS))
        for k, (stored, received) in enumerate(SPARK_BATCHES):
            cur.execute(
                "INSERT INTO stream_batches (processor, query_id, batch_id, time, received, stored, duplicates,"
                " quarantined, late_dropped, windows) VALUES ('spark', 'seed', %s, %s, %s, %s, 0, %s, 0, 0)",
                (k, now - timedelta(minutes=20, seconds=-k), received, stored, received - stored),
            )
        for reason, count in QUARANTINE.items():
            for k in range(count):
                payload = f'{{"sensor_id": "ghost-{k}", "metric": "pm10", "value": {k}}}\n\t<b>x</b>'
                cur.execute(
                    "INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint) "
                    "VALUES (%s, 'mqtt', %s, %s, %s, md5(%s))",
                    (now - timedelta(minutes=5 + k), payload, reason, f"{reason} #{k}", f"{reason}-{k}"),
                )


def seed_hostile(conn, now: datetime) -> None:
    """Hostile strings where devices and users write: FDF_AQ[0]'s name, town, INSEE code and tags; a new sensor whose
    id, name and town are hostile; the acknowledger, comment and assignee of the 'muet' alert and who resolved the
    'NO2 > 200' one and why (seed_alerts first); history events (actors, comments, assignees, severities) and a
    silence (reason, author, a malformed end in its event) on FDF_AQ[0]; a quarantined message with hostile source,
    payload, reason and detail."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE sensors SET name = %s, commune = %s, insee = %s, tags = ARRAY[%s] WHERE sensor_id = %s",
            (HOSTILE, HOSTILE_COMMUNE, TAG, HOSTILE, FDF_AQ[0]),
        )
        cur.execute(
            """INSERT INTO sensors (sensor_id, name, kind, commune, insee, latitude, longitude)
               VALUES (%s, %s, 'noise', %s, '97209', 14.6, -61.07)""",
            (HOSTILE_ID, HOSTILE, HOSTILE_COMMUNE),
        )
        cur.execute(
            "UPDATE alerts SET acknowledged_at = %s, acknowledged_by = %s, ack_comment = %s, assignee = %s "
            "WHERE message = 'muet'",
            (now, HOSTILE[:100], HOSTILE, LINK),
        )
        cur.execute("UPDATE alerts SET resolved_by = %s, resolution = %s WHERE message = 'NO2 > 200'", (TAG, HOSTILE))
        # the workflow's history and silences: actors, comments, assignees, reasons
        cur.execute(
            """INSERT INTO alert_events (alert_id, sensor_id, metric, at, actor, action, severity, comment, details)
               SELECT alert_id, sensor_id, metric, %(at)s, %(actor)s, a.action, severity, %(text)s,
                      jsonb_build_object('assignee', %(link)s, 'previous', %(tag)s, 'from', %(tag)s, 'to', %(tag)s)
                 FROM alerts, (VALUES ('commented'), ('assigned'), ('unassigned'), ('escalated')) a (action)
                WHERE message IN ('muet', 'NO2 > 200')""",
            {"at": now - timedelta(minutes=2), "actor": HOSTILE[:100], "text": HOSTILE, "link": LINK, "tag": TAG},
        )
        cur.execute(
            "INSERT INTO alert_silences (sensor_id, metric, starts_at, ends_at, reason, created_by) "
            "VALUES (%s, NULL, %s, %s, %s, %s) RETURNING silence_id",
            (FDF_AQ[0], now - timedelta(minutes=10), now + timedelta(days=1), HOSTILE, TAG),
        )
        silence_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO alert_events (sensor_id, at, actor, action, comment, details) "
            "VALUES (%s, %s, %s, 'silenced', %s, jsonb_build_object('silence_id', %s, 'starts_at', %s::text, "
            "'ends_at', %s::text))",
            (FDF_AQ[0], now - timedelta(minutes=10), TAG, HOSTILE, silence_id, now, HOSTILE),
        )
        cur.execute(
            "INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint) "
            "VALUES (%s, %s, %s, %s, %s, md5(%s))",
            (now - timedelta(minutes=1), HOSTILE, HOSTILE + "\n\x01" + TAG, HOSTILE[:60], HOSTILE, "hostile"),
        )


def shown_name(sensor, lang: str = "fr") -> str:
    """The name the pages show for a catalogue sensor: its kind as the UI catalogue names it, then the place part of
    its stored name (components.names, computed here from the catalogues and the stored name)."""
    from components import i18n

    return f"{i18n.catalogue(lang)[f'kind.{sensor.kind}']} – {sensor.name.split(' – ', 1)[1]}"
