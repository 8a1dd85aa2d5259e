"""data_access.sensor on real PostgreSQL (read-only role), exact values: identity and freshness, latest value per
metric, battery trend with depletion date, alert history, gaps (raw and from 1-minute windows), stuck values,
shares of warning / critical / fault readings from raw rows, 1-minute and 1-hour windows."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from data_access import sensor as sensor_data
from data_access.engine import make_engine
from ingestion.catalogue import SENSORS
from ingestion.writer import Writer, compute_status

NOW = datetime(2026, 11, 22, 14, 30, 30, tzinfo=UTC)
T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # the seeded hour: [13:00, 14:00)
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")
ENV2 = [s.sensor_id for s in SENSORS if s.kind == "environment"][1]
H0 = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # first battery hour inside the last 3 days before NOW


def temperature(k: int) -> float:
    if k < 12:
        return 25.0  # stuck: 12 identical readings
    if k in (50, 51):
        return 33.0  # warning (> 32 °C)
    if k == 52:
        return 36.0  # critical (> 35 °C)
    return 20.0 + (k % 7) * 0.5 + 0.1


def quality_rows() -> pd.DataFrame:
    """One reading a minute in [T0, T0 + 1 h): co2 missing minutes 11-24 (a 15-minute gap), humidity only in the
    first half hour, starting with 15 zeros (the floor value: not "stuck"), one co2 reading flagged fault."""
    rows = []
    for k in range(60):
        moment = T0 + timedelta(minutes=k)
        rows.append((moment, "temperature", temperature(k)))
        if not 11 <= k <= 24:
            rows.append((moment, "co2", 600.0 + k))
        if k < 30:
            rows.append((moment, "humidity", 0.0 if k < 15 else 70.0 + k))
    frame = pd.DataFrame(rows, columns=["time", "metric", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["sensor_id"] = ENV
    frame["status"] = compute_status(frame)
    frame.loc[(frame["metric"] == "co2") & (frame["time"] == pd.Timestamp(T0 + timedelta(minutes=30))), "status"] = (
        "fault"
    )
    return frame


def battery_rows() -> pd.DataFrame:
    """Battery every 10 minutes, constant within each hour h from H0: 15 % for h = 0..4, then a new battery: 80 %
    falling 0.5 point an hour (h = 5..70)."""
    rows = []
    for h in range(71):
        value = 15.0 if h < 5 else 80.0 - 0.5 * (h - 5)
        rows += [(H0 + timedelta(hours=h, minutes=m), value) for m in range(0, 60, 10)]
    frame = pd.DataFrame(rows, columns=["time", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.assign(sensor_id=ENV, metric="battery")[["time", "sensor_id", "metric", "value"]]


@pytest.fixture
def engine(pg_cluster, db_name, conn):
    with conn.cursor() as cur:
        cur.execute("UPDATE sensors SET expected_interval_s = 60 WHERE sensor_id = %s", (ENV,))
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(quality_rows())
        writer.write(battery_rows())
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine
    engine.dispose()


def test_sensor_info_and_latest_by_metric(engine):
    info = sensor_data.sensor_info(engine, sensor_id=ENV, now=NOW)
    assert len(info) == 1
    row = info.iloc[0]
    expected = next(s for s in SENSORS if s.sensor_id == ENV)
    assert (row["name"], row["kind"], row["commune"], row["expected_interval_s"]) == (
        expected.name,
        "environment",
        expected.commune,
        60,
    )
    # Last reading: the temperature of 13:59 (the battery's last is 13:50); 31 min 30 s before NOW > 20 x 60 s.
    assert row["last_time"] == pd.Timestamp(T0 + timedelta(minutes=59))
    assert row["age_s"] == pytest.approx(1890.0) and row["status"] == "offline"
    assert "indoor" in row["tags"]
    assert sensor_data.sensor_info(engine, sensor_id="nope", now=NOW).empty

    latest = sensor_data.latest_by_metric(engine, sensor_id=ENV, now=NOW).set_index("metric")
    assert sorted(latest.index) == ["battery", "co2", "humidity", "temperature"]
    assert latest.loc["co2", "value"] == 659.0 and latest.loc["co2", "unit"] == "ppm"
    assert latest.loc["humidity", "time"] == pd.Timestamp(T0 + timedelta(minutes=29))
    assert latest.loc["humidity", "age_s"] == pytest.approx(61 * 60 + 30)
    assert latest.loc["battery", "value"] == 47.5 and latest.loc["battery", "warn_low"] == 20.0


def test_battery_trend_fits_since_the_last_battery_change(engine):
    trend = sensor_data.battery_trend(engine, sensor_id=ENV, now=NOW)
    assert trend["state"] == "ok"
    assert len(trend["hourly"]) == 71 and trend["points"] == 66  # the 5 hours of the old battery are left out
    assert trend["since"] == pd.Timestamp(H0 + timedelta(hours=5))
    assert trend["last"] == 47.5
    assert trend["slope_per_day"] == pytest.approx(-12.0)
    # Line: 80 % at H0 + 5 h 30 (middle of the first hour), -0.5 point an hour.
    hours_now = (NOW - (H0 + timedelta(hours=5, minutes=30))).total_seconds() / 3600
    assert trend["fitted_now"] == pytest.approx(80 - 0.5 * hours_now)
    depletion = pd.Timestamp(H0 + timedelta(hours=5.5 + 160))
    critical = pd.Timestamp(H0 + timedelta(hours=5.5 + 140))
    assert abs((trend["depletion_at"] - depletion).total_seconds()) < 1
    assert abs((trend["critical_at"] - critical).total_seconds()) < 1
    assert len(trend["fit"]) == 66


def test_battery_trend_says_when_it_cannot_tell(pg_cluster, db_name, engine):
    assert sensor_data.battery_trend(engine, sensor_id=ENV2, now=NOW)["state"] == "no_data"
    rows = [(NOW - timedelta(hours=h), ENV2, "battery", 90.0 - h) for h in range(1, 4)]
    frame = pd.DataFrame(rows, columns=["time", "sensor_id", "metric", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame)
    few = sensor_data.battery_trend(engine, sensor_id=ENV2, now=NOW)
    assert few["state"] == "not_enough" and few["points"] == 3 and few["depletion_at"] is None

    hours = pd.date_range(NOW - timedelta(hours=10), periods=10, freq="h", tz="UTC")
    steady = sensor_data.battery_forecast(
        pd.DataFrame({"window_start": hours, "value": [60.0] * 10}), now=NOW, crit_low=10.0
    )
    assert steady["state"] == "not_discharging" and steady["slope_per_day"] == pytest.approx(0.0)
    low = sensor_data.battery_forecast(
        pd.DataFrame({"window_start": hours, "value": [9.0 - 0.1 * i for i in range(10)]}), now=NOW, crit_low=10.0
    )
    assert low["state"] == "ok" and low["critical_at"] is None and low["depletion_at"] > pd.Timestamp(NOW)


def test_alert_history_most_recent_first(engine, conn):
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at, value,
                                   threshold, message, acknowledged_at, acknowledged_by)
               VALUES (%(s)s, 'co2', 'threshold', 'warning', %(t1)s, %(t1)s, %(t2)s, 1100, 1000, 'CO2 > 1000',
                       %(t2)s, 'Léa'),
                      (%(s)s, 'battery', 'battery', 'critical', %(t2)s, %(t3)s, NULL, 9, 10, 'Batterie < 10 %%',
                       NULL, NULL),
                      (%(s)s, NULL, 'offline', 'warning', %(t0)s, %(t0)s, %(t1)s, NULL, NULL, 'hors ligne',
                       NULL, NULL),
                      (%(o)s, 'co2', 'threshold', 'info', %(t3)s, %(t3)s, NULL, 1, 1, 'other sensor', NULL, NULL)""",
            {"s": ENV, "o": ENV2, "t0": T0, "t1": T0 + timedelta(minutes=10), "t2": T0 + timedelta(minutes=20),
             "t3": T0 + timedelta(minutes=30)},
        )  # fmt: skip
    history = sensor_data.alert_history(engine, sensor_id=ENV)
    assert history["kind"].tolist() == ["battery", "threshold", "offline"]
    assert history["is_open"].tolist() == [True, False, False]
    first = history.iloc[0]
    assert (first["severity"], first["value"], first["threshold"], first["label_fr"]) == ("critical", 9, 10, "Batterie")
    assert first["last_seen_at"] == pd.Timestamp(T0 + timedelta(minutes=30))
    assert history.iloc[1]["acknowledged_by"] == "Léa" and pd.isna(history.iloc[2]["metric"])
    assert len(sensor_data.alert_history(engine, sensor_id=ENV, limit=2)) == 2


def test_gaps_from_raw_readings(engine):
    end = T0 + timedelta(hours=1)
    assert sensor_data.gap_source(T0, end) == "raw"
    # At least 11 x 60 s = 660 s without a reading: battery readings 10 minutes apart are not gaps.
    gaps = sensor_data.gaps(engine, sensor_id=ENV, start=T0, end=end, factor=11)
    assert set(gaps["metric"]) == {"co2", "humidity"}
    co2 = gaps[gaps["metric"] == "co2"]
    assert co2[["gap_start", "gap_end", "duration_s", "metric_gaps"]].values.tolist() == [
        [pd.Timestamp(T0 + timedelta(minutes=10)), pd.Timestamp(T0 + timedelta(minutes=25)), 900.0, 1]
    ]
    humidity = gaps[gaps["metric"] == "humidity"].iloc[0]  # silent from 13:29 to the end of the range
    assert (humidity["gap_start"], humidity["gap_end"]) == (pd.Timestamp(T0 + timedelta(minutes=29)), pd.Timestamp(end))
    assert humidity["duration_s"] == 31 * 60
    summary = sensor_data.gap_summary(gaps, ["temperature", "co2", "humidity"], 3600).set_index("metric")
    assert summary.loc["co2"].tolist() == [1, 900.0, 900.0, pytest.approx(0.75)]
    assert summary.loc["temperature"].tolist() == [0, 0.0, 0.0, 1.0]

    # At 5 x 60 s, the battery's 10-minute spacing is a gap: 36 of them from 08:00 to 14:00 (the last one to the
    # range end), 3 listed (limit), all counted; co2 is silent from 08:00 (range start) to 13:00.
    day = sensor_data.gaps(engine, sensor_id=ENV, start=T0 - timedelta(hours=5), end=end, factor=5, limit=3)
    battery = day[day["metric"] == "battery"]
    assert len(battery) == 3 and battery["metric_gaps"].tolist() == [36, 36, 36]
    assert battery["duration_s"].tolist() == [600.0] * 3 and battery["metric_gap_s"].iloc[0] == 36 * 600.0
    assert day[day["metric"] == "co2"]["duration_s"].iloc[0] == 5 * 3600.0


def test_gaps_from_minute_windows_for_long_ranges(engine):
    start, end = T0 - timedelta(days=2), T0 + timedelta(hours=1)
    assert sensor_data.gap_source(start, end) == "agg"
    gaps = sensor_data.gaps(engine, sensor_id=ENV, start=start, end=end, factor=11)
    co2 = gaps[gaps["metric"] == "co2"].sort_values("gap_start")
    # Silent from the range start to the first window; then between windows [10, 11) and [25, 26): 14 minutes.
    assert co2["duration_s"].tolist() == [2 * 86400.0, 840.0]
    assert co2["gap_start"].tolist() == [pd.Timestamp(start), pd.Timestamp(T0 + timedelta(minutes=11))]
    humidity = gaps[gaps["metric"] == "humidity"].sort_values("gap_start")
    assert humidity["duration_s"].tolist() == [2 * 86400.0, 1800.0]
    assert "battery" not in set(gaps["metric"])  # 1-minute windows 10 minutes apart: 540 s < 660 s


def test_stuck_values_leave_floor_values_out(engine):
    runs = sensor_data.stuck_runs(engine, sensor_id=ENV, start=T0, end=T0 + timedelta(hours=1))
    # Temperature 25.0 twelve times in a row; humidity's 15 zeros are its floor (valid_min 0): not stuck; the battery
    # repeats its value 6 times an hour only.
    assert runs[["metric", "value", "readings", "duration_s"]].values.tolist() == [["temperature", 25.0, 12, 660.0]]
    assert runs["run_start"].iloc[0] == pd.Timestamp(T0)
    assert sensor_data.stuck_runs(engine, sensor_id=ENV, start=T0, end=T0 + timedelta(hours=1), min_run=13).empty
    # Only the last 24 h of a range are searched.
    assert sensor_data.stuck_window(T0 - timedelta(days=3), T0) == (T0 - timedelta(days=1), T0)


@pytest.mark.parametrize(
    ("span", "source"),
    [(timedelta(hours=1), ("raw", None)), (timedelta(hours=25), ("agg", 60)), (timedelta(days=3), ("agg", 3600))],
)
def test_status_shares_from_each_source(engine, span, source):
    end = T0 + timedelta(hours=1)
    assert sensor_data.shares_source(end - span, end) == source
    shares = sensor_data.status_shares(engine, sensor_id=ENV, start=end - span, end=end).set_index("metric")
    assert shares.loc["temperature", ["readings", "n_warning", "n_critical", "n_fault"]].tolist() == [60, 2, 1, 0]
    assert shares.loc["temperature", "share_warning"] == pytest.approx(2 / 60)
    assert shares.loc["co2", ["readings", "n_fault", "share_fault"]].tolist() == [46, 1, pytest.approx(1 / 46)]
    assert shares.loc["humidity", "readings"] == 30


def test_stored_step_follows_what_is_stored(pg_cluster, db_name):
    """The step the data is stored at, per metric, from its windows in the range: a reading every 10 s (co2) and
    one a minute (temperature) over 4 hours, with a 40-minute outage that must not lengthen it."""
    start = T0
    times_10s = [start + timedelta(seconds=10 * k) for k in range(4 * 360)]
    times_1m = [start + timedelta(minutes=k) for k in range(4 * 60) if not 100 <= k < 140]
    rows = pd.DataFrame(
        {
            "time": pd.to_datetime(times_10s + times_1m, utc=True),
            "sensor_id": ENV2,
            "metric": ["co2"] * len(times_10s) + ["temperature"] * len(times_1m),
            "value": 500.0,
        }
    )
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(rows)
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    try:
        hourly = sensor_data.stored_steps(engine, sensor_id=ENV2, start=start, end=start + timedelta(hours=4))
        assert hourly == {"co2": 10, "temperature": 60}
        minutes = sensor_data.stored_steps(engine, sensor_id=ENV2, start=start, end=start + timedelta(hours=2))
        assert minutes == {"co2": 10, "temperature": 60}
        assert sensor_data.typical_step(hourly, 1) == 10  # equal counts: the shortest step
        assert sensor_data.typical_step({}, 1) == 1 and sensor_data.typical_step({"co2": 1}, 5) == 5
        # The outage is one gap with the 10 x 1 min threshold the page derives, not 240 one-minute "gaps".
        gaps = sensor_data.gaps(
            engine,
            sensor_id=ENV2,
            start=start,
            end=start + timedelta(hours=4),
            factor=10,
            steps=tuple(hourly.items()),
        )
        temperature = gaps[gaps["metric"] == "temperature"]
        assert len(temperature) == 1 and temperature["duration_s"].iloc[0] == 41 * 60
    finally:
        engine.dispose()
