"""Alerts over history (ingestion/alerts_history.py) on small synthetic series with known episodes, compared with
an expectation computed here by walking the readings one by one (the live engine's rules, written plainly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from ingestion.alerts_history import evaluate_history
from ingestion.catalogue import METRICS
from ingestion.writer import Writer

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOISE = "mq-fdf-no-01"  # metrics noise, battery; expected_interval_s 1 -> offline after 120 s
WEATHER = "mq-fdf-wx-01"
MIN = timedelta(minutes=1)


def status_of(metric: str, value: float) -> str:
    m = METRICS[metric]
    if (m.crit_high is not None and value > m.crit_high) or (m.crit_low is not None and value < m.crit_low):
        return "critical"
    if (m.warn_high is not None and value > m.warn_high) or (m.warn_low is not None and value < m.warn_low):
        return "warning"
    return "ok"


def write(db_url: str, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["time", "sensor_id", "metric", "value", "status"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    with Writer(db_url, processor="test") as writer:
        writer.write(frame)


def expected_episodes(rows: list[tuple], end: datetime) -> set[tuple]:
    """(sensor, metric, kind, severity, opened, last_seen, closed) by walking each series in time order."""
    out = set()
    series: dict[tuple, list] = {}
    for t, s, m, v, st in sorted(rows):
        series.setdefault((s, m), []).append((t, v, st))
    for (s, m), readings in series.items():
        for cls in ("level", "fault"):
            bad = (lambda st: st in ("warning", "critical")) if cls == "level" else (lambda st: st == "fault")
            kind = "fault" if cls == "fault" else ("battery" if m == "battery" else "threshold")
            opened = last = sev = None
            for t, _v, st in readings:
                if t >= end:
                    break
                if bad(st):
                    opened = opened or t
                    last, sev = t, ("warning" if cls == "fault" else st)
                elif opened is not None:
                    out.add((s, m, kind, sev, opened, last, t))
                    opened = None
    return out


def stored_alerts(conn) -> set[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at FROM alerts"
            " WHERE kind <> 'offline' AND kind <> 'anomaly'"
        )
        return set(cur.fetchall())


def test_reading_episodes_match_a_plain_walk_and_a_second_pass_adds_nothing(db_url, conn):
    noise = [60, 66, 72, 60, 60, 66, 66, 60, 71, 69, 80, 60, 66]  # warning > 65, critical > 70
    battery = [50, 19, 15, 9, 30, 30, 8]  # warning < 20, critical < 10; the last one still open at the end
    rows = [(T0 + i * MIN, NOISE, "noise", float(v), status_of("noise", v)) for i, v in enumerate(noise)]
    rows += [(T0 + i * MIN, NOISE, "battery", float(v), status_of("battery", v)) for i, v in enumerate(battery)]
    temps = [25, 25, 40, 25, 25]  # a FAULT self-report at minute 2 and 3 (the device noticed its spike)
    rows += [
        (T0 + i * MIN, WEATHER, "temperature", float(v), "fault" if i in (2, 3) else status_of("temperature", v))
        for i, v in enumerate(temps)
    ]
    write(db_url, rows)
    end = T0 + 13 * MIN
    with conn.cursor() as cur:
        inserted = evaluate_history(conn, start=T0, end=end)
    expected = expected_episodes(rows, end)
    assert stored_alerts(conn) == expected
    assert inserted == len(expected) == 5  # noise x3, battery x1, fault x1; the last noise and battery ones are open
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM alerts WHERE closed_at IS NULL OR closed_at > %s", (end,))
        assert cur.fetchone()[0] == 0  # nothing open is left behind: that is the live engine's
        cur.execute("SELECT value, threshold, message FROM alerts WHERE kind = 'threshold' ORDER BY opened_at")
        first = cur.fetchone()
    assert first == (72.0, 70.0, "Bruit (LAeq) : 72.00 dB(A)")  # as the live engine left it: its last reading
    assert evaluate_history(conn, start=T0, end=end) == 0  # idempotent
    assert stored_alerts(conn) == expected


def test_disjoint_sensor_sets_evaluated_apart_give_the_same_alerts(db_url, conn):
    """The backfill evaluates its sensors in halves on two connections: each half stores only its own sensors'
    episodes (offline ones included), and the halves together are exactly the walk's episodes."""
    noise = [60, 72, 60, 66, 60]
    temps = [25, 25, 40, 25, 25]
    rows = [(T0 + i * MIN, NOISE, "noise", float(v), status_of("noise", v)) for i, v in enumerate(noise)]
    rows += [(T0 + 9 * MIN, NOISE, "noise", 60.0, "ok")]  # 5 minutes of silence: NOISE goes offline meanwhile
    rows += [
        (T0 + i * MIN, WEATHER, "temperature", float(v), "fault" if i == 2 else status_of("temperature", v))
        for i, v in enumerate(temps)
    ]
    write(db_url, rows)
    end = T0 + 10 * MIN
    assert evaluate_history(conn, start=T0, end=end, sensors=[WEATHER]) == 1  # its fault only
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT sensor_id FROM alerts")
        assert cur.fetchall() == [(WEATHER,)]
    assert evaluate_history(conn, start=T0, end=end, sensors=[NOISE]) == 3  # warning, critical, offline
    assert stored_alerts(conn) == expected_episodes(rows, end)
    with conn.cursor() as cur:
        cur.execute("SELECT sensor_id FROM alerts WHERE kind = 'offline'")
        assert cur.fetchall() == [(NOISE,)]
    assert evaluate_history(conn, start=T0, end=end) == 0  # the whole set finds nothing more


def test_offline_gap_and_overlap_with_a_live_alert(db_url, conn):
    times = [T0 + timedelta(seconds=s) for s in (0, 30, 60, 400, 430, 460, 1000)]  # gaps 340 s and 540 s
    rows = [(t, NOISE, m, 50.0, "ok") for t in times for m in ("noise", "battery")]
    write(db_url, rows)
    with conn.cursor() as cur:  # the live engine already saw the second gap
        cur.execute(
            "INSERT INTO alerts (sensor_id, kind, severity, opened_at, last_seen_at, closed_at, message)"
            " VALUES (%s, 'offline', 'critical', %s, %s, %s, 'live')",
            (NOISE, T0 + timedelta(seconds=590), T0 + timedelta(seconds=990), T0 + timedelta(seconds=1000)),
        )
    assert evaluate_history(conn, start=T0, end=T0 + timedelta(seconds=1001)) == 1
    with conn.cursor() as cur:
        cur.execute("SELECT opened_at, closed_at, message FROM alerts WHERE kind = 'offline' ORDER BY opened_at")
        got = cur.fetchall()
    assert got[0] == (T0 + timedelta(seconds=180), T0 + timedelta(seconds=400), "Aucune lecture depuis 340 s")
    assert got[1][2] == "live" and len(got) == 2


def test_stuck_value_at_one_reading_per_second(db_url, conn):
    """Temperature frozen at 27.0 for 10 minutes, varying before and after, one reading per second: the stuck
    rule (a full 5-minute window, >= 30 readings, all equal) holds for the windows ending at 08:15 .. 08:20."""
    rows = []
    for s in range(0, 30 * 60):
        t = T0 + timedelta(seconds=s)
        frozen = 10 * 60 <= s < 20 * 60
        rows.append((t, WEATHER, "temperature", 27.0 if frozen else 26.0 + (s % 7) * 0.1, "ok"))
    write(db_url, rows)
    # expectation by hand: window [m-5, m) entirely inside [08:10, 08:20) <=> m in 08:15 .. 08:20
    assert evaluate_history(conn, start=T0, end=T0 + 30 * MIN) == 1
    with conn.cursor() as cur:
        cur.execute("SELECT kind, metric, opened_at, last_seen_at, closed_at, value FROM alerts")
        assert cur.fetchall() == [("anomaly", "temperature", T0 + 15 * MIN, T0 + 20 * MIN, T0 + 21 * MIN, 27.0)]
