"""data_access functions return exact values on seeded data (real PostgreSQL, read-only role)."""

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from data_access import alerts, live, queries
from data_access.engine import DatabaseUnavailable, make_engine
from ingestion.catalogue import METRICS, SENSORS
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
    overview = live.metric_overview(seeded, now=NOW).set_index("metric")
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


def test_live_kpis_are_the_figures_of_the_readings_sent(pg_cluster, db_name):
    """live.kpis (one primary-key probe per series and minute) against the readings as sent, counted here: per
    metric, the mean of every reading of the last complete minute and of the minute before, the sensors and readings
    behind the last one; around them, readings of the open minute and of the history the read must leave out, and
    series that have only one of the two minutes. The open alerts against the alerts inserted."""
    rng = random.Random(11)
    minute = NOW.replace(second=0)  # the open minute; the last complete one starts a minute earlier
    sent = []  # (time, sensor, metric, value)
    sensors = [s for s in SENSORS if s.kind in ("air_quality", "weather", "environment")][:14]
    for sensor in sensors:
        for metric in sensor.metrics:
            lo, hi = METRICS[metric].valid_min, METRICS[metric].valid_max
            for offset in (-2, -1, 0, -3, -90):  # previous, current, open minute, history (a minute, 90 minutes back)
                if rng.random() < 0.2:  # some series miss a minute: current-only and previous-only metrics exist
                    continue
                for _ in range(rng.randint(1, 4)):
                    at = minute + timedelta(
                        minutes=offset, seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999)
                    )
                    if at < NOW:
                        sent.append((at, sensor.sensor_id, metric, round(rng.uniform(lo, hi), 3)))
    sent = list({(t, s, m): v for t, s, m, v in sent}.items())  # one reading per key, as the table keeps
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame([(t, s, m, v) for (t, s, m), v in sent]), timings=BatchTimings(source=NOW.timestamp() - 1))
    opened = [(s.sensor_id, sev, closed, acked) for s in sensors[:6] for sev in alerts.SEVERITIES
              for closed, acked in ((False, False), (False, True), (True, False)) if rng.random() < 0.7]  # fmt: skip
    with psycopg2.connect(pg_cluster.url(db_name)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, closed_at, acknowledged_at, message)"
            " VALUES (%s, %s, 'threshold', %s, %s, %s, %s, 'x')",  # one open alert per (sensor, metric, kind)
            [
                (
                    s,
                    list(METRICS)[i % len(METRICS)],
                    sev,
                    NOW - timedelta(hours=2),
                    NOW if c else None,
                    NOW if a else None,
                )
                for i, (s, sev, c, a) in enumerate(opened)
            ],
        )

    def expected(ids: set[str]) -> dict[str, tuple]:
        def minute_of(offset):
            start = minute + timedelta(minutes=offset)
            return [(s, m, v) for (t, s, m), v in sent if s in ids and start <= t < start + timedelta(minutes=1)]

        current, previous = minute_of(-1), minute_of(-2)
        out = {}
        for metric in {m for _, m, _ in current + previous}:
            now_values = [v for _, m, v in current if m == metric]
            before = [v for _, m, v in previous if m == metric]
            out[metric] = (
                sum(now_values) / len(now_values) if now_values else None,
                sum(before) / len(before) if before else None,
                len({s for s, m, _ in current if m == metric}),
                len(now_values),
            )
        return out

    def same(got, want) -> bool:
        return pd.isna(got) if want is None else got == pytest.approx(want, rel=1e-12)

    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    try:
        everyone = {s.sensor_id for s in sensors}
        for ids in (None, tuple(sorted(everyone)[:5]), ()):
            figures = live.kpis(engine, sensor_ids=ids, now=NOW)
            overview = live.overview_of(figures).set_index("metric")
            want = expected(everyone if ids is None else set(ids))
            assert set(overview.index) == set(want) and (ids == () or want)
            for metric, (current, previous, n_sensors, readings) in want.items():
                row = overview.loc[metric]
                assert same(row["current"], current) and same(row["previous"], previous), metric
                assert (row["sensors"], row["readings"]) == (n_sensors, readings), metric
            assert (overview["window_start"] == pd.Timestamp(minute - timedelta(minutes=1))).all()
            counts = live.open_alerts_of(figures).set_index("severity")
            chosen = everyone if ids is None else set(ids)
            for sev in alerts.SEVERITIES:
                still_open = [a for s, v, c, a in opened if s in chosen and v == sev and not c]
                assert counts.loc[sev, "open_alerts"] == len(still_open)
                assert counts.loc[sev, "unacknowledged"] == sum(not a for a in still_open)
    finally:
        engine.dispose()
