"""Alerts open and close on a scripted scenario: threshold crossing, a sensor silent beyond its interval,
recovery; battery, fault, stuck and spike anomalies; one open alert per (sensor, metric, kind)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from ingestion.alerts import evaluate
from ingestion.catalogue import SENSORS
from ingestion.writer import Writer

T0 = datetime(2026, 11, 22, 14, 0, 0, tzinfo=UTC)
AQ = next(s for s in SENSORS if s.kind == "air_quality")
ENV = next(s for s in SENSORS if s.kind == "environment")


def write(url, rows):
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sensor_id": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
        }
    )
    if any(len(r) > 4 for r in rows):
        from ingestion.writer import compute_status

        status = compute_status(frame)
        for i, r in enumerate(rows):
            if len(r) > 4:
                status[i] = r[4]
        frame["status"] = status
    with Writer(url) as writer:
        writer.write(frame)


def alerts(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sensor_id, metric, kind, severity, closed_at IS NULL AS open, value, threshold "
            "FROM alerts ORDER BY alert_id"
        )
        return cur.fetchall()


@pytest.fixture
def wconn(db_url):
    connection = psycopg2.connect(db_url)
    yield connection
    connection.close()


def test_threshold_offline_and_recovery_scenario(db_url, wconn):
    sid = AQ.sensor_id
    # 1. normal reading: nothing opens
    write(db_url, [(T0, sid, "pm10", 30.0)])
    assert evaluate(wconn, now=T0 + timedelta(seconds=1)).opened == 0
    # 2. Saharan dust: PM10 over the information threshold (50) -> warning
    write(db_url, [(T0 + timedelta(seconds=10), sid, "pm10", 65.0)])
    outcome = evaluate(wconn, now=T0 + timedelta(seconds=11))
    assert outcome.opened == 1
    assert alerts(wconn) == [(sid, "pm10", "threshold", "warning", True, 65.0, 50.0)]
    # 3. worse: over the alert threshold (80) -> the SAME alert escalates to critical, last_seen_at moves
    write(db_url, [(T0 + timedelta(seconds=20), sid, "pm10", 120.0)])
    outcome = evaluate(wconn, now=T0 + timedelta(seconds=21))
    assert (outcome.opened, outcome.still_open) == (0, 1)
    assert alerts(wconn) == [(sid, "pm10", "threshold", "critical", True, 120.0, 80.0)]
    # 4. the sensor goes silent beyond max(20 x interval, 120 s) -> offline alert, threshold one stays
    silent_at = T0 + timedelta(seconds=20 + 121)
    outcome = evaluate(wconn, now=silent_at)
    assert outcome.opened == 1
    kinds = {(a[2], a[4]) for a in alerts(wconn)}
    assert kinds == {("threshold", True), ("offline", True)}
    # 5. recovery: a normal reading -> both close
    write(db_url, [(silent_at + timedelta(seconds=1), sid, "pm10", 25.0)])
    outcome = evaluate(wconn, now=silent_at + timedelta(seconds=2))
    assert outcome.closed == 2
    assert all(not a[4] for a in alerts(wconn))
    # 6. a new crossing opens a NEW alert (the closed one stays closed, history kept)
    write(db_url, [(silent_at + timedelta(seconds=5), sid, "pm10", 55.0)])
    evaluate(wconn, now=silent_at + timedelta(seconds=6))
    rows = alerts(wconn)
    assert len(rows) == 3 and rows[-1][:5] == (sid, "pm10", "threshold", "warning", True)


def test_battery_and_fault_kinds(db_url, wconn):
    sid = ENV.sensor_id
    write(db_url, [(T0, sid, "battery", 8.0), (T0, sid, "temperature", 25.0, "fault")])
    evaluate(wconn, now=T0 + timedelta(seconds=1))
    found = {(a[1], a[2], a[3]) for a in alerts(wconn)}
    assert found == {("battery", "battery", "critical"), ("temperature", "fault", "warning")}


def test_stuck_value_and_spike_anomalies(db_url, wconn):
    sid = ENV.sensor_id
    start = T0
    rows = [(start + timedelta(seconds=s), sid, "co2", 612.0) for s in range(0, 300, 5)]  # 60 equal values
    noise = [420, 421, 419, 420, 422, 418, 420, 421, 419, 420]
    rows += [
        (start + timedelta(seconds=s), sid, "temperature", 25 + (noise[(s // 5) % 10] - 420) / 10)
        for s in range(0, 240, 5)
    ]
    rows += [
        (start + timedelta(seconds=240 + s), sid, "temperature", 25.0 + (0.1 if s % 10 else -0.1))
        for s in range(0, 60, 5)
    ]
    rows[-1] = (rows[-1][0], sid, "temperature", 31.5)  # one spike in the last minute
    write(db_url, rows)
    evaluate(wconn, now=start + timedelta(minutes=5, seconds=1))
    found = {(a[1], a[2]) for a in alerts(wconn) if a[4]}
    assert ("co2", "anomaly") in found
    assert ("temperature", "anomaly") in found
    # the sensor stops sending: once the 5-minute window holds fewer than 30 readings, the anomaly closes
    evaluate(wconn, now=start + timedelta(minutes=9, seconds=1))
    assert ("co2", "anomaly") not in {(a[1], a[2]) for a in alerts(wconn) if a[4]}


def test_one_open_alert_per_sensor_metric_kind_is_enforced_by_the_database(conn):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO alerts (sensor_id, metric, kind, severity) VALUES ('s', 'pm10', 'threshold', 'warning')"
        )
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(
                "INSERT INTO alerts (sensor_id, metric, kind, severity) VALUES ('s', 'pm10', 'threshold', 'critical')"
            )
