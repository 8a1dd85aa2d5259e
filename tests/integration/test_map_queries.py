"""data_access.map on real PostgreSQL (read-only role), exact values: sensor points with status and latest value,
the frame plan of each range, replay frames re-aggregated exactly from 1-minute and 1-hour windows."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from data_access import map as map_data
from data_access.engine import make_engine
from ingestion.catalogue import SENSORS
from ingestion.writer import Writer

NOW = datetime(2026, 11, 22, 14, 30, 30, tzinfo=UTC)
WX = [s.sensor_id for s in SENSORS if s.kind == "weather"][:2]  # report temperature
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")


def frame(rows):
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sensor_id": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
        }
    )


@pytest.fixture
def engine(pg_cluster, db_name):
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine
    engine.dispose()


def test_frame_plan_bounds_the_number_of_frames():
    end = datetime(2026, 11, 22, 14, 30, 0, tzinfo=UTC)
    cases = {
        timedelta(minutes=15): (60, 60, 15),
        timedelta(hours=1): (60, 60, 60),
        timedelta(hours=6): (300, 60, 72),
        timedelta(hours=24): (900, 60, 96),
        timedelta(days=7): (3 * 3600, 3600, 57),  # 14:30 UTC = 10:30 local: the first 3-hour frame starts 09:00
        timedelta(days=30): (12 * 3600, 3600, 61),
    }
    for span, (step, base, frames) in cases.items():
        plan = map_data.frame_plan(end - span, end)
        assert (plan.step_s, plan.base_window_s, len(plan.frames)) == (step, base, frames), span
        assert len(plan.frames) <= map_data.MAX_FRAMES
        assert plan.start <= end - span < plan.start + timedelta(seconds=step)
    # A day frame starts at a Martinique midnight (04:00 UTC).
    plan = map_data.frame_plan(end - timedelta(days=90), end)
    assert plan.step_s == 86400 and plan.start.hour == 4 and len(plan.frames) <= map_data.MAX_FRAMES
    plan = map_data.frame_plan(end - timedelta(days=365), end)
    assert plan.step_s == 4 * 86400 and len(plan.frames) <= map_data.MAX_FRAMES


def test_sensor_points_status_and_latest_value(pg_cluster, db_name, engine):
    rows = [
        (NOW - timedelta(seconds=2), WX[0], "temperature", 27.5),  # online
        (NOW - timedelta(seconds=60), WX[1], "temperature", 24.0),  # stale (1 s expected interval)
        (NOW - timedelta(seconds=61), WX[1], "humidity", 80.0),
        (NOW - timedelta(hours=2), AQ, "pm10", 40.0),  # offline
    ]
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame(rows))
    points = map_data.sensor_points(engine, sensor_ids=(*WX, AQ), metric="temperature", now=NOW).set_index("sensor_id")
    assert sorted(points.index) == sorted([*WX, AQ])
    assert points.loc[WX[0], ["status", "value", "value_status"]].tolist() == ["online", 27.5, "ok"]
    assert points.loc[WX[1], ["status", "value"]].tolist() == ["stale", 24.0]
    assert points.loc[WX[1], "value_time"] == pd.Timestamp(NOW - timedelta(seconds=60))
    assert points.loc[AQ, "status"] == "offline" and pd.isna(points.loc[AQ, "value"])
    assert points.loc[AQ, "age_s"] == pytest.approx(7200.0)
    sensor = next(s for s in SENSORS if s.sensor_id == WX[0])
    assert (points.loc[WX[0], "latitude"], points.loc[WX[0], "longitude"]) == (sensor.latitude, sensor.longitude)

    everyone = map_data.sensor_points(engine, metric=None, now=NOW)
    assert len(everyone) == len(SENSORS) and everyone["value"].isna().all()
    assert (everyone["status"] == "offline").sum() == len(SENSORS) - 2


def test_replay_frames_from_minute_windows_are_exact(pg_cluster, db_name, engine):
    # Readings every 10 s from 13:30:00 to 14:29:50 for two sensors: value = minute index (+100 for the second).
    start = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
    rows = []
    for k in range(360):
        moment = start + timedelta(seconds=10 * k)
        rows.append((moment, WX[0], "temperature", float(k // 6)))
        rows.append((moment, WX[1], "temperature", 100.0 + k // 6))
    rows.append((start + timedelta(minutes=7, seconds=5), WX[0], "temperature", 40.0))  # critical (> 35 °C)
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame(rows))

    end = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    plan = map_data.frame_plan(end - timedelta(hours=6), end)
    assert (plan.step_s, plan.base_window_s) == (300, 60)
    frames = map_data.replay_frames(
        engine,
        metric="temperature",
        sensor_ids=tuple(WX),
        start=plan.start,
        end=plan.end,
        step_s=plan.step_s,
        base_window_s=plan.base_window_s,
    )
    assert len(frames) == 2 * 12  # 12 five-minute frames with data per sensor
    first = frames[(frames["sensor_id"] == WX[0])].set_index("frame")
    t0 = pd.Timestamp(start)
    assert first.loc[t0, "value"] == pytest.approx(2.0)  # minutes 0..4: values 0..4, 6 readings each
    assert first.loc[t0, "count"] == 30 and first.loc[t0, "min"] == 0 and first.loc[t0, "max"] == 4
    second_frame = first.loc[t0 + pd.Timedelta(minutes=5)]
    assert second_frame["count"] == 31
    assert second_frame["value"] == pytest.approx((6 * (5 + 6 + 7 + 8 + 9) + 40) / 31)
    assert (second_frame["n_warning"], second_frame["n_critical"], second_frame["max"]) == (0, 1, 40.0)
    other = frames[(frames["sensor_id"] == WX[1])].set_index("frame")
    assert other.loc[t0 + pd.Timedelta(minutes=55), "value"] == pytest.approx(157.0)
    assert set(frames["frame"]) <= set(plan.frames)


def test_replay_frames_from_hour_windows(pg_cluster, db_name, engine):
    base = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # a Martinique midnight
    rows = [(base + timedelta(hours=h, minutes=m), WX[0], "temperature", float(h)) for h in range(9) for m in (0, 30)]
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame(rows))
    end = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    plan = map_data.frame_plan(end - timedelta(days=7), end)
    frames = map_data.replay_frames(
        engine,
        metric="temperature",
        sensor_ids=(WX[0],),
        start=plan.start,
        end=plan.end,
        step_s=plan.step_s,
        base_window_s=plan.base_window_s,
    )
    # 3-hour frames: hours 0-2, 3-5, 6-8 -> means 1, 4, 7 with 6 readings each.
    assert frames["frame"].tolist() == [pd.Timestamp(base + timedelta(hours=h)) for h in (0, 3, 6)]
    assert frames["value"].tolist() == pytest.approx([1.0, 4.0, 7.0])
    assert frames["count"].tolist() == [6, 6, 6]
    with pytest.raises(ValueError):
        map_data.replay_frames(
            engine, metric="temperature", sensor_ids=(WX[0],), start=base, end=end, step_s=90, base_window_s=60
        )


def test_empty_database_gives_empty_frames(engine):
    end = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    plan = map_data.frame_plan(end - timedelta(hours=1), end)
    frames = map_data.replay_frames(
        engine, metric="temperature", sensor_ids=tuple(WX), start=plan.start, end=end, step_s=60, base_window_s=60
    )
    assert frames.empty and list(frames.columns)[:3] == ["frame", "sensor_id", "value"]
    points = map_data.sensor_points(engine, metric="temperature", now=NOW)
    assert (points["status"] == "offline").all() and points["value"].isna().all()
