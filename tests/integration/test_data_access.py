"""data_access functions return exact values on seeded data (real PostgreSQL, read-only role)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from data_access import queries
from data_access.engine import DatabaseUnavailable, make_engine
from ingestion.catalogue import SENSORS
from ingestion.writer import BatchTimings, Writer

NOW = datetime(2026, 11, 22, 14, 30, 30, tzinfo=UTC)
AQ = next(s for s in SENSORS if s.kind == "air_quality").sensor_id
ENV = next(s for s in SENSORS if s.kind == "environment").sensor_id


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
def seeded(pg_cluster, db_name):
    owner = pg_cluster.url(db_name)
    rows = [
        (NOW - timedelta(seconds=2), AQ, "pm10", 40.0),  # fresh, ok
        (NOW - timedelta(seconds=65), AQ, "pm10", 20.0),  # previous minute 14:29
        (NOW - timedelta(seconds=75), AQ, "pm10", 60.0),  # 14:29, warning (> 50)
        (NOW - timedelta(seconds=125), AQ, "pm10", 10.0),  # 14:28
        (NOW - timedelta(seconds=90), ENV, "co2", 800.0),  # 14:29; ENV is stale (90 s, 1 s interval)
    ]
    with Writer(owner) as writer:
        writer.write(frame(rows), timings=BatchTimings(source=NOW.timestamp() - 1, received=NOW.timestamp()))
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine
    engine.dispose()


def test_sensor_status_by_expected_interval(seeded):
    status = queries.sensor_status(seeded, now=NOW).set_index("sensor_id")
    assert status.loc[AQ, "status"] == "online"
    assert status.loc[AQ, "age_s"] == pytest.approx(2.0)
    assert status.loc[ENV, "status"] == "stale"
    assert status.loc[ENV, "age_s"] == pytest.approx(90.0)
    others = status.drop(index=[AQ, ENV])
    assert (others["status"] == "offline").all() and others["last_time"].isna().all()
    assert len(status) == len(SENSORS)


def test_latest_readings(seeded):
    latest = queries.latest_readings(seeded, sensor_ids=[AQ])
    assert latest[["sensor_id", "metric", "value", "status"]].values.tolist() == [[AQ, "pm10", 40.0, "ok"]]
    assert latest["time"].iloc[0] == pd.Timestamp(NOW - timedelta(seconds=2))
    assert set(queries.latest_readings(seeded)["sensor_id"]) == {AQ, ENV}


def test_metric_overview_current_and_previous_minute(seeded):
    overview = queries.metric_overview(seeded, now=NOW).set_index("metric")
    assert overview.loc["pm10", "current"] == pytest.approx(40.0)  # 14:29 window: 20 and 60
    assert overview.loc["pm10", "previous"] == pytest.approx(10.0)  # 14:28 window
    assert overview.loc["co2", "current"] == pytest.approx(800.0)
    assert pd.isna(overview.loc["co2", "previous"])


def test_timeseries_raw_and_aggregate_give_the_same_minute_means(seeded):
    start, end = NOW - timedelta(minutes=3), NOW
    raw, res = queries.timeseries(
        seeded, sensor_ids=[AQ], metric="pm10", start=start, end=end, resolution=queries.Resolution("raw", 60, None)
    )
    agg, res2 = queries.timeseries(
        seeded, sensor_ids=[AQ], metric="pm10", start=start, end=end, resolution=queries.Resolution("agg", 60, 60)
    )
    assert raw["value"].tolist() == [10.0, 40.0, 40.0]
    assert raw["count"].tolist() == [1, 2, 1]
    # The aggregates give the same whole minutes; the minute still open at `end` would bring readings from after it,
    # so it is not read from them (the raw readings stop at `end` by themselves).
    assert agg["value"].tolist() == raw["value"].tolist()[:-1]
    assert agg["time"].tolist() == raw["time"].tolist()[:-1]


def test_throughput_and_latency(seeded):
    assert queries.throughput(seeded, seconds=60, now=datetime.now(UTC)) == pytest.approx(5 / 60)
    stats = queries.latency_stats(seeded, interval="1 hour").set_index("stage")
    assert set(stats.index) == {"processor_to_db", "end_to_end"}
    assert stats.loc["end_to_end", "samples"] == 1


def test_unreachable_database_raises_database_unavailable():
    engine = make_engine("postgresql://madinina_reader@127.0.0.1:9/madinina")
    with pytest.raises(DatabaseUnavailable):
        queries.metrics(engine)


@pytest.mark.parametrize(
    ("span", "source", "step", "window"),
    [
        (timedelta(minutes=15), "raw", 1, None),
        (timedelta(hours=2), "raw", 2, None),
        (timedelta(hours=24), "agg", 60, 60),
        (timedelta(days=7), "agg", 180, 60),
        (timedelta(days=30), "agg", 3600, 3600),
    ],
)
def test_resolution_is_chosen_from_the_range(span, source, step, window):
    res = queries.choose_resolution(NOW - span, NOW)
    assert (res.source, res.step_s, res.window_s) == (source, step, window)
    assert span.total_seconds() / res.step_s <= queries.MAX_POINTS
