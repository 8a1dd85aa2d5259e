"""Trends reads on real PostgreSQL (read-only role), with hand-computed expected values; the read plan (raw vs
aggregates, window widening, Martinique-midnight alignment); the period comparison and correlation; the CSV export
of the windowed data."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from components.csv_export import build_csv, read_export, safe_cell
from data_access import trends
from data_access.engine import make_engine
from ingestion.writer import Writer

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)  # 10:00 in Martinique
AQ1, AQ2, ENV = "mq-fdf-aq-01", "mq-fdf-aq-02", "mq-fdf-env-01"


def frame(rows):
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sensor_id": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
        }
    )


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


ROWS = [
    (at(0, 10), AQ1, "pm10", 10),
    (at(2), AQ1, "pm10", 20),
    (at(4, 59), AQ1, "pm10", 30),
    (at(5), AQ1, "pm10", 40),
    (at(9, 30), AQ1, "pm10", 50),
    (at(16), AQ1, "pm10", 60),
    (at(1), AQ2, "pm10", 100),
    (at(6), AQ2, "pm10", 200),
    # 1-day windows start at Martinique midnight = 04:00 UTC.
    (datetime(2026, 11, 22, 3, 30, tzinfo=UTC), ENV, "co2", 400),  # 21 Nov, 23:30 local
    (datetime(2026, 11, 22, 4, 30, tzinfo=UTC), ENV, "co2", 600),  # 22 Nov, 00:30 local
    (datetime(2026, 11, 23, 3, 59, tzinfo=UTC), ENV, "co2", 800),  # 22 Nov, 23:59 local
]


@pytest.fixture
def reader(pg_cluster, db_name):
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame(ROWS))
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine
    engine.dispose()


def rows_of(series: pd.DataFrame):
    return [
        (r.time.isoformat(), r.sensor_id, r.metric, r.value, r.min, r.max, r.count)
        for r in series.sort_values(["metric", "sensor_id", "time"]).itertuples()
    ]


def test_raw_windows_of_five_minutes(reader):
    p = trends.plan(at(0), at(20), 300)
    assert (p.source, p.window_s, p.base_window_s, p.start) == ("raw", 300, None, at(0))
    series = trends.windowed_series(reader, sensor_ids=(AQ1,), metrics=("pm10",), start=at(0), end=at(20), window_s=300)
    assert rows_of(series) == [
        ("2026-11-22T14:00:00+00:00", AQ1, "pm10", 20.0, 10.0, 30.0, 3),
        ("2026-11-22T14:05:00+00:00", AQ1, "pm10", 45.0, 40.0, 50.0, 2),
        ("2026-11-22T14:15:00+00:00", AQ1, "pm10", 60.0, 60.0, 60.0, 1),
    ]


def test_aggregate_windows_give_the_same_buckets_as_raw(reader):
    start = at(-180, 30)  # more than 2 h: read from sensor_data_agg (1-minute windows), start aligned down
    p = trends.plan(start, at(20), 300)
    assert (p.source, p.base_window_s, p.start, p.table) == ("agg", 60, at(-180), "sensor_data_agg")
    series = trends.windowed_series(
        reader, sensor_ids=(AQ1, AQ2), metrics=("pm10",), start=start, end=at(20), window_s=300
    )
    assert rows_of(series) == [
        ("2026-11-22T14:00:00+00:00", AQ1, "pm10", 20.0, 10.0, 30.0, 3),
        ("2026-11-22T14:05:00+00:00", AQ1, "pm10", 45.0, 40.0, 50.0, 2),
        ("2026-11-22T14:15:00+00:00", AQ1, "pm10", 60.0, 60.0, 60.0, 1),
        ("2026-11-22T14:00:00+00:00", AQ2, "pm10", 100.0, 100.0, 100.0, 1),
        ("2026-11-22T14:05:00+00:00", AQ2, "pm10", 200.0, 200.0, 200.0, 1),
    ]


def test_hour_windows_read_hour_aggregates(reader):
    p = trends.plan(at(-240), at(60), 3600)
    assert (p.source, p.base_window_s) == ("agg", 3600)
    series = trends.windowed_series(
        reader, sensor_ids=(AQ1, AQ2), metrics=("pm10",), start=at(-240), end=at(60), window_s=3600
    )
    assert rows_of(series) == [
        ("2026-11-22T14:00:00+00:00", AQ1, "pm10", 35.0, 10.0, 60.0, 6),
        ("2026-11-22T14:00:00+00:00", AQ2, "pm10", 150.0, 100.0, 200.0, 2),
    ]


def test_day_windows_start_at_martinique_midnight(reader):
    start, end = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)
    p = trends.plan(start, end, 86400)
    assert p.start == datetime(2026, 11, 19, 4, 0, tzinfo=UTC)  # 19 Nov 00:00 local
    series = trends.windowed_series(reader, sensor_ids=(ENV,), metrics=("co2",), start=start, end=end, window_s=86400)
    assert rows_of(series) == [
        ("2026-11-21T04:00:00+00:00", ENV, "co2", 400.0, 400.0, 400.0, 1),
        ("2026-11-22T04:00:00+00:00", ENV, "co2", 700.0, 600.0, 800.0, 2),
    ]


def test_filters_and_empty_results(reader):
    only_aq2 = trends.windowed_series(
        reader, sensor_ids=(AQ2,), metrics=("pm10", "co2"), start=at(0), end=at(20), window_s=60
    )
    assert set(only_aq2["sensor_id"]) == {AQ2} and only_aq2["value"].tolist() == [100.0, 200.0]
    nothing = trends.windowed_series(
        reader, sensor_ids=(AQ1,), metrics=("pm10",), start=at(-100), end=at(-50), window_s=60
    )
    assert nothing.empty and list(nothing.columns) == ["time", "sensor_id", "metric", "value", "min", "max", "count"]


@pytest.mark.parametrize(
    ("span", "asked", "source", "window", "base"),
    [
        (timedelta(minutes=15), 60, "raw", 60, None),
        (timedelta(hours=1), 60, "raw", 60, None),
        (timedelta(hours=6), 300, "agg", 300, 60),
        (timedelta(hours=24), 900, "agg", 900, 60),
        (timedelta(days=7), 60, "agg", 300, 60),  # 10,080 one-minute buckets: widened to 5 min
        (timedelta(days=30), 60, "agg", 900, 60),  # 43,200 -> 8,640 -> 2,880 buckets
        (timedelta(days=30), 21600, "agg", 21600, 3600),
    ],
)
def test_plan_never_exceeds_the_points_budget(span, asked, source, window, base):
    end = datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)
    p = trends.plan(end - span, end, asked)
    assert (p.source, p.window_s, p.base_window_s, p.widened) == (source, window, base, window != asked)
    assert p.buckets <= 5000 + 1
    assert (p.start - trends.ORIGIN).total_seconds() % p.window_s == 0


@pytest.mark.parametrize(
    ("span", "asked", "series", "window", "base"),
    [
        (timedelta(days=7), 900, 4, 900, 60),  # 40,320 one-minute windows to read: fine
        (timedelta(days=7), 900, 49, 3600, 3600),  # 494,000: hourly aggregates
        (timedelta(hours=24), 900, 49, 900, 60),  # 70,560
        (timedelta(days=30), 300, 1, 900, 60),  # points budget only
    ],
)
def test_plan_switches_to_hourly_aggregates_when_minute_windows_cost_too_much(span, asked, series, window, base):
    end = datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)
    p = trends.plan(end - span, end, asked, series=series)
    assert (p.source, p.window_s, p.base_window_s) == ("agg", window, base)


def test_previous_range_has_the_same_aligned_buckets():
    p = trends.plan(at(-30, 20), at(0, 40), 300)
    assert p.start == at(-30) and p.buckets == 7  # 13:30 -> 14:00:40, the last bucket in progress
    assert trends.previous_range(p) == (at(-65), at(-30))


def test_compare_periods_weights_by_readings():
    def series(rows):
        return pd.DataFrame(rows, columns=["time", "sensor_id", "metric", "value", "min", "max", "count"])

    current = series([(at(0), AQ1, "pm10", 10.0, 5, 15, 3), (at(5), AQ1, "pm10", 30.0, 30, 30, 1),
                      (at(0), AQ2, "pm10", 50.0, 50, 50, 2)])  # fmt: skip
    previous = series([(at(-10), AQ1, "pm10", 20.0, 20, 20, 4), (at(-10), AQ2, "pm10", 40.0, 40, 40, 1)])
    out = trends.compare_periods(current, previous).set_index("sensor_id")
    assert list(out.index) == ["*", AQ1, AQ2]
    assert out.loc[AQ1, "current"] == 15.0  # (10*3 + 30) / 4
    assert out.loc[AQ1, "previous"] == 20.0 and out.loc[AQ1, "delta"] == -5.0 and out.loc[AQ1, "delta_pct"] == -25.0
    assert out.loc["*", "current"] == pytest.approx((30 + 30 + 100) / 6)
    assert out.loc["*", "previous"] == pytest.approx((80 + 40) / 5)
    assert out.loc[AQ2, "current_count"] == 2 and out.loc[AQ2, "previous_count"] == 1


def test_correlation_of_network_means():
    times = [at(i) for i in range(6)]
    x = np.arange(6, dtype=float)
    rows = (
        [(tm, AQ1, "a", v, v, v, 1) for tm, v in zip(times, x, strict=True)]
        + [(tm, AQ2, "b", 2 * v + 1, 0, 0, 1) for tm, v in zip(times, x, strict=True)]
        + [(tm, ENV, "c", -v, 0, 0, 1) for tm, v in zip(times, x, strict=True)]
    )
    means = pd.DataFrame(rows, columns=["time", "sensor_id", "metric", "value", "min", "max", "count"])
    matrix = trends.correlation(means)
    assert matrix.loc["a", "b"] == pytest.approx(1.0) and matrix.loc["a", "c"] == pytest.approx(-1.0)
    assert trends.correlation(means[means["metric"] == "a"]).empty


def test_csv_export_is_the_windowed_data_with_offsets_and_header(reader, pg_cluster, db_name):
    import psycopg2

    series = trends.windowed_series(
        reader, sensor_ids=(AQ1, AQ2), metrics=("pm10",), start=at(0), end=at(20), window_s=300
    )
    catalogue = pd.DataFrame(
        {
            "sensor_id": [AQ1, AQ2],
            "name": ['=HYPERLINK("x")', "Bishop"],
            "commune": ["Fort-de-France"] * 2,
            "kind": ["air_quality"] * 2,
        }  # fmt: skip
    )
    payload = build_csv(
        series,
        window_s=300,
        header={"window": "300 s (5 min)", "range": "2026-11-22T10:00:00-04:00 / 2026-11-22T10:20:00-04:00"},
        catalogue=catalogue,
        units={"pm10": "µg/m³"},
    )
    header, data = read_export(payload)
    assert header == {"window": "300 s (5 min)", "range": "2026-11-22T10:00:00-04:00 / 2026-11-22T10:20:00-04:00"}
    assert data["window_start"].tolist()[:2] == ["2026-11-22T10:00:00-04:00", "2026-11-22T10:05:00-04:00"]
    assert data["window_end"].tolist()[0] == "2026-11-22T10:05:00-04:00"
    assert data["sensor_name"].tolist()[0] == '\'=HYPERLINK("x")'  # formula neutralised
    # The same numbers as a direct SQL query of the same window and filters.
    with psycopg2.connect(pg_cluster.url(db_name)) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT to_char(date_bin('5 minutes', time, timestamptz '2000-01-01 04:00+00') AT TIME ZONE
                      'America/Martinique', 'YYYY-MM-DD"T"HH24:MI:SS-04:00'), sensor_id, avg(value), min(value),
                      max(value), count(*)
                 FROM sensor_data WHERE metric = 'pm10' AND sensor_id IN (%s, %s)
                  AND time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 2, 1""",
            (AQ1, AQ2, at(0), at(20)),
        )
        expected = [tuple(r) for r in cur.fetchall()]
    got = [tuple(r) for r in data[["window_start", "sensor_id", "mean", "min", "max", "count"]].itertuples(index=False)]
    assert got == expected


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+33 6", "'+33 6"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Fort-de-France", "Fort-de-France"),
        (-3.5, -3.5),
        (7, 7),
    ],
)
def test_formula_injection_guard(value, safe):
    assert safe_cell(value) == safe


@pytest.mark.parametrize(
    "window_s", [900, 3600]
)  # from 1-minute windows; from 1-hour windows + the last hour's minutes
def test_windows_never_pass_the_declared_end(pg_cluster, db_name, window_s):
    """A reading every 10 s for 4 hours, read over [T0, T0 + 3 h 07 min 35 s): the export's windows hold exactly the
    readings that were sent before the declared end (counted here from what was sent), the last window ends there
    and says partial, and no reading from after the end (value 999) is in any window."""
    sent = [T0 + timedelta(seconds=10 * k) for k in range(4 * 360)]
    end = T0 + timedelta(hours=3, minutes=7, seconds=35)
    rows = [(t, AQ1, "pm10", 999.0 if t >= end else 20.0 + (k % 7)) for k, t in enumerate(sent)]
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame(rows))
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    try:
        p = trends.plan(T0, end, window_s)
        assert p.source == "agg" and p.window_s == window_s and p.end == T0 + timedelta(hours=3, minutes=7)
        series = trends.windowed_series(
            engine, sensor_ids=(AQ1,), metrics=("pm10",), start=T0, end=end, window_s=window_s
        )
    finally:
        engine.dispose()
    _, data = read_export(build_csv(series, window_s=window_s, header={}, end=p.end))
    step = timedelta(seconds=window_s)
    expected = {}
    for t in sent:
        if t < p.end:
            bucket = T0 + (t - T0) // step * step
            expected[bucket] = expected.get(bucket, 0) + 1
    got = {pd.Timestamp(r.window_start).to_pydatetime(): r.count for r in data.itertuples()}
    assert got == expected and sum(got.values()) == 3 * 360 + 42  # 3 h and 7 min of a reading every 10 s
    assert data["max"].max() < 999
    last = data.iloc[-1]
    assert pd.Timestamp(last["window_end"]) == pd.Timestamp(p.end) and bool(last["partial"])
    assert not data["partial"].iloc[:-1].any()
    assert (pd.to_datetime(data["window_end"]) - pd.to_datetime(data["window_start"]))[:-1].eq(step).all()


def hours_only(monkeypatch) -> None:
    """Plans that read no 6-hour rollup: everything from the 1-hour windows (the read before migration 0013)."""
    monkeypatch.setattr(trends.Plan, "six_start", property(lambda p: p.start))
    monkeypatch.setattr(trends.Plan, "six_end", property(lambda p: p.start))


def from_sent(sent: pd.DataFrame, p: trends.Plan) -> list[tuple]:
    """The buckets of the plan computed here from the readings sent: (time, sensor, metric, count, min, max, mean)."""
    inside = sent[(sent["time"] >= p.start) & (sent["time"] < p.end)]
    bucket = inside["time"].map(lambda t: trends.align_down(t.to_pydatetime(), p.window_s))
    grouped = inside.assign(bucket=bucket).groupby(["bucket", "sensor_id", "metric"])["value"]
    out = grouped.agg(["count", "min", "max", "mean"]).reset_index()
    return sorted(
        (r.bucket.isoformat(), r.sensor_id, r.metric, r.count, r.min, r.max, r.mean) for r in out.itertuples()
    )


def buckets(series: pd.DataFrame) -> list[tuple]:
    return sorted(
        (r.time.isoformat(), r.sensor_id, r.metric, r.count, r.min, r.max, r.value) for r in series.itertuples()
    )


def same_buckets(got: list[tuple], expected: list[tuple]) -> None:
    assert [g[:6] for g in got] == [e[:6] for e in expected]  # keys, count, min, max exactly
    assert [g[6] for g in got] == pytest.approx([e[6] for e in expected], rel=1e-12)  # means to float rounding


@pytest.mark.parametrize("window_s", [6 * 3600, 86400])
def test_the_rollup_read_equals_the_hourly_read_and_the_readings(pg_cluster, db_name, monkeypatch, window_s):
    """Six days of readings (every 7 min 13 s, two sensors, two metrics), written in batches of 5 hours and then a
    late batch into old windows: the Trends read of 6-hour and 1-day buckets through sensor_data_agg_6h is the read
    through the 1-hour windows alone, and both are what the readings sent give (counted here), for the page's range
    (from an unaligned start to an end inside an hour: the edges come from hours and minutes) and for its comparison
    period."""
    first, start = datetime(2026, 11, 16, 5, 17, tzinfo=UTC), datetime(2026, 11, 19, 5, 17, tzinfo=UTC)
    times = [first + timedelta(seconds=433 * k) for k in range(6 * 86400 // 433)]
    rng = np.random.default_rng(7)
    sent = pd.DataFrame(
        [
            (t, sensor, metric, float(rng.normal(40, 15)))
            for t in times
            for sensor in (AQ1, AQ2)
            for metric in ("pm10", "no2")
        ],
        columns=["time", "sensor_id", "metric", "value"],
    )
    sent["time"] = pd.to_datetime(sent["time"], utc=True)
    late = sent.sample(frac=0.1, random_state=3)  # arrive after everything else
    on_time = sent.drop(late.index)
    with Writer(pg_cluster.url(db_name)) as writer:
        for _, batch in on_time.groupby(on_time["time"].dt.floor("5h")):
            writer.write(batch)
        writer.write(late)
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    end = times[-1] - timedelta(minutes=95, seconds=20)  # inside an hour, past the last whole 6 hours
    kwargs = dict(sensor_ids=(AQ1, AQ2), metrics=("pm10", "no2"), window_s=window_s)
    try:
        p = trends.plan(start, end, window_s, series=4)
        assert p.source == "agg" and p.window_s == window_s and p.base_window_s == 3600
        assert p.start < p.six_end and p.six_start == p.start  # the rollup is read ...
        assert p.six_end < p.hour_end < p.end  # ... with hours and minutes after it
        prev_start, prev_end = trends.previous_range(p)
        through_rollup = [
            buckets(trends.windowed_series(engine, start=start, end=end, **kwargs)),
            buckets(trends.windowed_series(engine, start=prev_start, end=prev_end, **kwargs)),
        ]
        hours_only(monkeypatch)
        through_hours = [
            buckets(trends.windowed_series(engine, start=start, end=end, **kwargs)),
            buckets(trends.windowed_series(engine, start=prev_start, end=prev_end, **kwargs)),
        ]
    finally:
        engine.dispose()
    expected = [from_sent(sent, p), from_sent(sent, trends.plan(prev_start, prev_end, window_s, series=4))]
    assert expected[0] and expected[1]  # both periods hold readings
    for got_rollup, got_hours, want in zip(through_rollup, through_hours, expected, strict=True):
        same_buckets(got_rollup, want)
        same_buckets(got_hours, want)


def test_buckets_smaller_than_six_hours_read_no_rollup():
    start, end = datetime(2026, 11, 19, 5, 0, tzinfo=UTC), datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    for window_s in (3600, 900):
        p = trends.plan(start, end, window_s, series=1)
        assert p.six_start == p.six_end == p.start
    p = trends.plan(start, end, 6 * 3600, series=1)
    assert (p.six_start, p.six_end) == (datetime(2026, 11, 19, 4, tzinfo=UTC), datetime(2026, 11, 21, 4, tzinfo=UTC))


# (range start, end, window): one plan of each source — raw readings, 1-minute windows, 1-hour windows, the 6-hour
# rollup with hours and minutes at its edges.
GROUPED_PLANS = {
    "raw": (datetime(2026, 11, 21, 8, 3, tzinfo=UTC), datetime(2026, 11, 21, 9, 40, 30, tzinfo=UTC), 300),
    "minutes": (datetime(2026, 11, 19, 8, 3, tzinfo=UTC), datetime(2026, 11, 19, 20, 40, 30, tzinfo=UTC), 900),
    "hours": (datetime(2026, 11, 19, 5, 17, tzinfo=UTC), datetime(2026, 11, 21, 9, 40, 30, tzinfo=UTC), 3600),
    "rollup": (datetime(2026, 11, 17, 5, 17, tzinfo=UTC), datetime(2026, 11, 21, 9, 40, 30, tzinfo=UTC), 6 * 3600),
}


@pytest.fixture
def sent_readings(pg_cluster, db_name):
    """Five days of readings (every 7 min 13 s, two sensors of two metrics and one of another), in batches of 5 hours
    then a late batch; (the reader's database URL, the readings sent)."""
    first = datetime(2026, 11, 16, 23, 41, tzinfo=UTC)
    times = [first + timedelta(seconds=433 * k) for k in range(5 * 86400 // 433)]
    rng = np.random.default_rng(11)
    keys = [(AQ1, "pm10"), (AQ1, "no2"), (AQ2, "pm10"), (AQ2, "no2"), (ENV, "co2")]
    sent = pd.DataFrame(
        [(t, sensor, metric, float(rng.normal(40, 15))) for t in times for sensor, metric in keys],
        columns=["time", "sensor_id", "metric", "value"],
    )
    sent["time"] = pd.to_datetime(sent["time"], utc=True)
    sent = sent.drop(sent[(sent["sensor_id"] == AQ2) & (sent["time"].dt.day == 20)].index)  # AQ2 silent one day
    late = sent.sample(frac=0.1, random_state=5)
    on_time = sent.drop(late.index)
    with Writer(pg_cluster.url(db_name)) as writer:
        for _, batch in on_time.groupby(on_time["time"].dt.floor("5h")):
            writer.write(batch)
        writer.write(late)
    return pg_cluster.url(db_name, user="madinina_reader"), sent


def in_buckets(sent: pd.DataFrame, p: trends.Plan, metrics) -> pd.DataFrame:
    inside = sent[(sent["time"] >= p.start) & (sent["time"] < p.end) & sent["metric"].isin(metrics)]
    return inside.assign(bucket=inside["time"].map(lambda t: trends.align_down(t.to_pydatetime(), p.window_s)))


@pytest.mark.parametrize("source", GROUPED_PLANS)
def test_summary_of_network_means_and_sensor_totals_is_what_the_readings_give(sent_readings, source):
    """The page's grouped reads, counted here from the readings sent: per (metric, bucket) the mean, min, max and
    count of every reading of the chosen sensors; per (sensor, metric) those of the whole range and its number of
    buckets, which is the number of rows of the per-sensor read (the CSV export's)."""
    url, sent = sent_readings
    start, end, window_s = GROUPED_PLANS[source]
    sensors, metrics = (AQ1, AQ2, ENV), ("pm10", "co2")
    p = trends.plan(start, end, window_s, series=4)
    assert (p.source, p.base_window_s) == {
        "raw": ("raw", None),
        "minutes": ("agg", 60),
        "hours": ("agg", 3600),
        "rollup": ("agg", 3600),
    }[source]
    assert (p.six_start < p.six_end) == (source == "rollup")
    args = dict(sensor_ids=sensors, metrics=metrics, start=start, end=end, window_s=window_s, series=4)
    engine = make_engine(url)
    try:
        network, totals = trends.summary(engine, **args)
        per_sensor = trends.windowed_series(engine, **args)
    finally:
        engine.dispose()
    inside = in_buckets(sent, p, metrics)
    assert inside["sensor_id"].nunique() == 3 and inside["bucket"].nunique() > 3  # a meaningful sample
    want = inside.groupby(["metric", "bucket"])["value"].agg(["count", "min", "max", "mean"]).reset_index()
    assert list(network.columns) == ["metric", "time", "value", "min", "max", "count"]
    assert [(r.metric, r.time, r.count, r.min, r.max) for r in network.itertuples()] == [
        (r.metric, pd.Timestamp(r.bucket), r.count, r.min, r.max) for r in want.itertuples()
    ]
    assert list(network["value"]) == pytest.approx(list(want["mean"]), rel=1e-12)
    grouped = inside.groupby(["metric", "sensor_id"])
    want = grouped["value"].agg(["count", "min", "max", "mean"]).join(grouped["bucket"].nunique()).reset_index()
    assert [(r.metric, r.sensor_id, r.count, r.min, r.max, r.buckets) for r in totals.itertuples()] == [
        (r.metric, r.sensor_id, r.count, r.min, r.max, r.bucket) for r in want.itertuples()
    ]
    assert list(totals["value"]) == pytest.approx(list(want["mean"]), rel=1e-12)
    assert totals["buckets"].sum() == len(per_sensor)
