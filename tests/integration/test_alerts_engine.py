"""Alerts open and close on a scripted scenario: threshold crossing, a sensor silent beyond its interval,
recovery; battery, fault, stuck and spike anomalies; one open alert per (sensor, metric, kind). The workflow side:
every change appended to alert_events (opened, escalated, de-escalated, closed, reopened), silences marking alerts,
reopen on recurrence and after a manual resolution, historic events, one evaluation at a time. The engine runs as
the writer role, as in production."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from ingestion.alerts import REOPEN_WITHIN, evaluate
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
def wconn(pg_cluster, db_name):
    connection = psycopg2.connect(pg_cluster.url(db_name, user="madinina_writer"))
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
    # 6. a new crossing within REOPEN_WITHIN of the close reopens the SAME alert (one incident, one history)
    write(db_url, [(silent_at + timedelta(seconds=5), sid, "pm10", 55.0)])
    outcome = evaluate(wconn, now=silent_at + timedelta(seconds=6))
    assert (outcome.opened, outcome.reopened) == (0, 1)
    rows = alerts(wconn)
    assert len(rows) == 2 and rows[0][:5] == (sid, "pm10", "threshold", "warning", True)
    # 7. cleared, then a crossing after REOPEN_WITHIN opens a NEW alert (the closed one stays closed)
    write(db_url, [(silent_at + timedelta(seconds=8), sid, "pm10", 20.0)])
    later = silent_at + timedelta(seconds=9)
    assert evaluate(wconn, now=later).closed == 1
    after = later + REOPEN_WITHIN + timedelta(seconds=1)
    write(db_url, [(after - timedelta(seconds=1), sid, "pm10", 56.0)])
    outcome = evaluate(wconn, now=after)
    assert (outcome.opened, outcome.reopened) == (1, 0)
    rows = alerts(wconn)
    assert len(rows) == 3 and rows[-1][:5] == (sid, "pm10", "threshold", "warning", True)
    assert not rows[0][4]


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


# -- the workflow side: history, silences, reopen --------------------------------------------------------------------


def events(conn, alert_id=None):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT alert_id, action, actor, severity, silenced, historic FROM alert_events "
            "WHERE %(a)s::bigint IS NULL OR alert_id = %(a)s ORDER BY event_id",
            {"a": alert_id},
        )
        return cur.fetchall()


def queued(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT e.alert_id, e.action FROM alert_notifications n JOIN alert_events e USING (event_id) "
            "ORDER BY event_id"
        )
        return cur.fetchall()


def alert_id_of(conn, metric):
    with conn.cursor() as cur:
        cur.execute("SELECT alert_id FROM alerts WHERE metric IS NOT DISTINCT FROM %s ORDER BY alert_id", (metric,))
        return [r[0] for r in cur.fetchall()]


def test_every_change_is_one_system_event(db_url, conn, wconn):
    sid = AQ.sensor_id
    steps = [(65.0, "opened"), (120.0, "escalated"), (70.0, "deescalated"), (20.0, "closed")]
    for k, (value, _) in enumerate(steps):
        at = T0 + timedelta(seconds=10 * k)
        write(db_url, [(at, sid, "pm10", value)])
        evaluate(wconn, now=at + timedelta(seconds=1))
        evaluate(wconn, now=at + timedelta(seconds=2))  # nothing changed: no event
    (alert_id,) = alert_id_of(conn, "pm10")
    got = events(conn)
    assert [(e[0], e[1], e[2]) for e in got] == [(alert_id, action, "system") for _, action in steps]
    assert [e[3] for e in got] == ["warning", "critical", "warning", "warning"]
    assert all(e[5] for e in got)  # evaluated 10 days in the past: historic, never notified
    assert queued(conn) == []
    with conn.cursor() as cur:
        cur.execute("SELECT details FROM alert_events WHERE action = 'escalated'")
        assert cur.fetchone()[0] == {"from": "warning", "to": "critical", "value": 120.0, "threshold": 80.0}


def test_live_events_are_queued_for_notification_except_deescalation(db_url, conn, wconn):
    sid = AQ.sensor_id
    write(db_url, [(T0, sid, "pm10", 65.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=1), historic=False)
    write(db_url, [(T0 + timedelta(seconds=5), sid, "pm10", 120.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=6), historic=False)
    write(db_url, [(T0 + timedelta(seconds=10), sid, "pm10", 60.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=11), historic=False)
    write(db_url, [(T0 + timedelta(seconds=15), sid, "pm10", 10.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=16), historic=False)
    (alert_id,) = alert_id_of(conn, "pm10")
    assert queued(conn) == [(alert_id, "opened"), (alert_id, "escalated"), (alert_id, "closed")]


def silence(conn, sensor_id, metric, start, end):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO alert_silences (sensor_id, metric, starts_at, ends_at, reason, created_by) "
            "VALUES (%s, %s, %s, %s, 'maintenance', 'ops')",
            (sensor_id, metric, start, end),
        )


def test_alerts_under_a_silence_are_recorded_marked_and_not_queued(db_url, conn, wconn):
    sid, other = AQ.sensor_id, ENV.sensor_id
    silence(conn, sid, "pm10", T0, T0 + timedelta(minutes=10))  # one metric of one sensor
    silence(conn, other, None, T0, T0 + timedelta(minutes=10))  # a whole sensor
    write(db_url, [(T0, sid, "pm10", 65.0), (T0, sid, "no2", 250.0), (T0, other, "battery", 8.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=1), historic=False)
    with conn.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, silenced FROM alerts ORDER BY sensor_id, metric")
        marked = set(cur.fetchall())
    assert marked == {(sid, "pm10", True), (sid, "no2", False), (other, "battery", True)}
    assert {(e[1], e[4]) for e in events(conn)} == {("opened", True), ("opened", False)}
    assert [a for _, a in queued(conn)] == ["opened"]  # no2 only
    (no2,) = alert_id_of(conn, "no2")
    assert queued(conn) == [(no2, "opened")]
    # escalation under the silence: recorded, silenced, not queued
    write(db_url, [(T0 + timedelta(seconds=5), sid, "pm10", 120.0)])
    evaluate(wconn, now=T0 + timedelta(seconds=6), historic=False)
    (pm10,) = alert_id_of(conn, "pm10")
    assert events(conn, pm10)[-1][1:5] == ("escalated", "system", "critical", True)
    # the silence ends while pm10 still fires: `unsilenced`, queued (the receiver hears of it now)
    after = T0 + timedelta(minutes=10, seconds=1)
    write(
        db_url,
        [(after - timedelta(seconds=1), sid, "pm10", 121.0), (after - timedelta(seconds=1), other, "battery", 8.0)],
    )
    evaluate(wconn, now=after, historic=False)
    assert events(conn, pm10)[-1][1:5] == ("unsilenced", "system", "critical", False)
    assert (pm10, "unsilenced") in queued(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT bool_or(silenced) FROM alerts WHERE closed_at IS NULL")
        assert cur.fetchone()[0] is False


def test_a_resolved_alert_whose_condition_persists_is_reopened(db_url, conn, wconn):
    sid = AQ.sensor_id
    now = datetime.now(UTC).replace(microsecond=0)
    write(db_url, [(now - timedelta(seconds=2), sid, "pm10", 130.0)])
    evaluate(wconn)  # the database's clock: live, not historic
    (alert_id,) = alert_id_of(conn, "pm10")
    with conn.cursor() as cur:
        cur.execute("SELECT resolve_alert(%s, 'marie', 'capteur nettoyé')", (alert_id,))
    outcome = evaluate(wconn)
    assert (outcome.opened, outcome.reopened) == (0, 1)
    assert alert_id_of(conn, "pm10") == [alert_id]
    assert [(e[1], e[2], e[5]) for e in events(conn)] == [
        ("opened", "system", False),
        ("resolved", "marie", False),
        ("reopened", "system", False),
    ]
    with conn.cursor() as cur:
        cur.execute("SELECT closed_at, resolved_by, resolution FROM alerts WHERE alert_id = %s", (alert_id,))
        assert cur.fetchone() == (None, None, None)
    assert [a for _, a in queued(conn)] == ["opened", "resolved", "reopened"]


def test_one_evaluation_at_a_time(db_url, pg_cluster, db_name, conn, wconn):
    write(db_url, [(T0, AQ.sensor_id, "pm10", 65.0)])
    other = psycopg2.connect(pg_cluster.url(db_name, user="madinina_writer"))
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4862010)")  # another engine mid-evaluation
        assert evaluate(wconn, now=T0 + timedelta(seconds=1)) is None
        assert alert_id_of(conn, "pm10") == []
        other.rollback()
        assert evaluate(wconn, now=(T0 + timedelta(seconds=1)).replace(tzinfo=None)).opened == 1  # naive = UTC
    finally:
        other.close()
