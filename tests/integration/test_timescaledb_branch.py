"""The TimescaleDB branch on the real extension (2.28.3, built by scripts/setup.sh, DESIGN §7): our migrations,
writer and every dashboard query give the same results as on plain PostgreSQL 15 for the same writes, with raw
chunks uncompressed and compressed. The branch's policies and the switch of a plain data directory are tested
at the end. (Writer, windows, ledger and per-page query tests run on both branches too: tests/conftest.py.)"""

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from data_access import live, pipeline, queries
from data_access import map as map_data
from data_access import sensor as sensor_data
from data_access.engine import make_engine
from db.migrate import migrate, timescaledb_enabled
from ingestion.alerts import evaluate
from ingestion.catalogue import SENSORS
from ingestion.registry import sync_catalogue
from ingestion.simulator import Simulator
from ingestion.writer import BatchTimings, Writer

NOW = datetime(2026, 11, 22, 14, 30, 30, tzinfo=UTC)
SENSOR_IDS = tuple(s.sensor_id for s in SENSORS[:6])


def seed(url: str) -> None:
    """The same writes on both servers: 3 h of history at 30 s, a few live seconds, KPIs and alerts."""
    conn = psycopg2.connect(url)
    sync_catalogue(conn)
    conn.close()
    end = NOW.timestamp()
    with Writer(url) as writer:
        for chunk in Simulator(seed=9).history(end - 3 * 3600, end - 60, step_s=30):
            writer.write(chunk)
        live = next(Simulator(seed=9).history(end - 60, end, step_s=1))
        writer.write(live, timings=BatchTimings(source=end - 1, broker=end - 0.5, received=end - 0.2))
    conn = psycopg2.connect(url)
    evaluate(conn, now=NOW)
    with conn.cursor() as cur:  # the Pipeline page's reads: fixed KPI samples before NOW, quarantined messages
        cur.executemany(
            "INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id, processor) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (NOW - timedelta(minutes=20 - k), stage, 10.0 * (k + 1) * (i + 1), 50 + k, f"fixed-{k}", "lite")
                for k in range(5)
                for i, stage in enumerate(("source_to_broker", "broker_to_processor", "processor_to_db", "end_to_end"))
            ],
        )
        cur.executemany(  # ... and their batches as the processors record them (the throughput panel's source)
            "INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates,"
            " quarantined, quarantine_duplicates) VALUES (%s, %s, 'lite', 'mqtt', %s, %s, 0, 0, 0)",
            [(f"fixed-{k}", NOW - timedelta(minutes=20 - k), 10 + k, 50 + k) for k in range(5)],
        )
        cur.execute(
            "INSERT INTO stream_batches (processor, query_id, batch_id, time, received, stored, duplicates,"
            " quarantined, late_dropped, windows) VALUES ('spark', 'fixed', 0, %s, 31, 30, 0, 1, 0, 0)",
            (NOW - timedelta(minutes=7),),
        )
        for k, reason in enumerate(("unknown_sensor", "unknown_sensor", "out_of_range")):
            cur.execute(
                "INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint) "
                "VALUES (%s, 'mqtt', %s, %s, %s, md5(%s))",
                (NOW - timedelta(minutes=10 + k), f'{{"n": {k}}}\n' * 200, reason, f"#{k}", f"q{k}"),
            )
    conn.commit()
    conn.close()


def compress_all_raw_chunks(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(compress_chunk(c)) FROM show_chunks('sensor_data') c")
        return cur.fetchone()[0]


@pytest.fixture(scope="module")
def timescale_url(timescale_cluster):
    url = timescale_cluster.url(timescale_cluster.fresh_database(migrated=False))
    assert migrate(url)  # every migration applies on TimescaleDB
    assert timescaledb_enabled(url)
    seed(url)
    return url


@pytest.fixture(scope="module")
def compressed_url(timescale_cluster):
    """The same writes, then every raw chunk compressed (what the policy does to chunks older than 7 days)."""
    url = timescale_cluster.url(timescale_cluster.fresh_database(migrated=False))
    migrate(url)
    seed(url)
    assert compress_all_raw_chunks(url) >= 1
    return url


@pytest.fixture(scope="module", params=["uncompressed", "compressed"])
def tsdb_url(request):
    return request.getfixturevalue("timescale_url" if request.param == "uncompressed" else "compressed_url")


@pytest.fixture(scope="module")
def plain_url(plain_cluster):
    name = plain_cluster.fresh_database(migrated=False)
    url = plain_cluster.url(name)
    migrate(url)
    seed(url)
    return url


def test_raw_and_aggregate_tables_are_hypertables(timescale_url):
    with psycopg2.connect(timescale_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == ["sensor_data", "sensor_data_agg"]
        cur.execute(
            "SELECT count(*) FROM (SELECT time_bucket('1 minute', time) b, count(*) FROM sensor_data GROUP BY 1) x"
        )
        via_time_bucket = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM (SELECT date_bin('1 minute', time, timestamptz 'epoch') b, count(*) "
            "FROM sensor_data GROUP BY 1) x"
        )
        assert cur.fetchone()[0] == via_time_bucket


def test_plain_postgresql_stays_on_plain_tables(plain_url):
    assert not timescaledb_enabled(plain_url)


def _tables(url: str) -> dict[str, list]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        out = {}
        for name, sql in {
            "sensor_data": "SELECT time, sensor_id, metric, value, status FROM sensor_data ORDER BY 2, 3, 1",
            "sensor_data_agg": "SELECT window_start, window_end, sensor_id, metric, count, round(avg::numeric, 9), "
            "min, max, round(stddev::numeric, 9), n_warning, n_critical, n_fault FROM sensor_data_agg "
            "ORDER BY 3, 4, 1, 2",
            "sensor_latest": "SELECT sensor_id, metric, time, value, status FROM sensor_latest ORDER BY 1, 2",
            "alerts": "SELECT sensor_id, metric, kind, severity, value, threshold FROM alerts "
            "ORDER BY 1, 2 NULLS FIRST, 3",
        }.items():
            cur.execute(sql)
            out[name] = cur.fetchall()
    return out


def test_the_same_writes_give_the_same_tables(tsdb_url, plain_url):
    timescale, plain = _tables(tsdb_url), _tables(plain_url)
    for name in plain:
        assert len(timescale[name]) == len(plain[name]), name
        assert timescale[name] == plain[name], name


def live_kpis(engine, **kwargs) -> pd.DataFrame:
    """live.kpis without the latency figures: the writer's samples measure wall-clock time (see latency_samples)."""
    return live.kpis(engine, **kwargs).drop(columns=list(live.LATENCY))


# Every read the dashboard makes: (function, kwargs). Extended when a page adds queries.
CALLS = [
    (queries.sensor_status, {"now": NOW}),
    (queries.latest_readings, {}),
    (queries.latest_readings, {"sensor_ids": list(SENSOR_IDS[:2])}),
    (live_kpis, {"now": NOW}),
    (live_kpis, {"now": NOW, "sensor_ids": list(SENSOR_IDS[:2])}),
    (queries.metrics, {}),
    (
        queries.timeseries,
        {"sensor_ids": SENSOR_IDS, "metric": "temperature", "start": NOW - timedelta(hours=1), "end": NOW},
    ),
    (
        queries.timeseries,
        {
            "sensor_ids": SENSOR_IDS,
            "metric": "temperature",
            "start": NOW - timedelta(hours=3),
            "end": NOW,
            "resolution": queries.Resolution("agg", 300, 60),
        },
    ),
    (
        queries.timeseries,
        {
            "sensor_ids": SENSOR_IDS,
            "metric": "pm10",
            "start": NOW - timedelta(hours=3),
            "end": NOW,
            "resolution": queries.Resolution("agg", 3600, 3600),
        },
    ),
]


# Page reads returning something other than a DataFrame, or with per-server values, wrapped for the comparison.
def battery_forecast(engine, **kwargs) -> pd.DataFrame:
    trend = sensor_data.battery_trend(engine, **kwargs)
    keys = ("state", "points", "since", "last", "slope_per_day", "fitted_now", "critical_at", "depletion_at")
    return pd.DataFrame([{key: trend[key] for key in keys}]).astype(object).assign(hourly=len(trend["hourly"]))


def sensor_info(engine, **kwargs) -> pd.DataFrame:
    """sensor_info without installed_at: the catalogue sync stamps it with each server's now()."""
    return sensor_data.sensor_info(engine, **kwargs).drop(columns=["installed_at"])


def latency_samples(engine, **kwargs) -> pd.DataFrame:
    """get_pipeline_latency_stats over the last `seconds` (the database's now()): the writer's own samples measure
    wall-clock time, so only the stages and sample counts are the same on both servers."""
    return pipeline.stage_latency(engine, **kwargs)[["stage", "samples"]]


WXS = tuple(s.sensor_id for s in SENSORS if s.kind == "weather")[:4]
WX = WXS[0]
CALLS += [
    # Map
    (map_data.sensor_points, {"metric": "temperature", "now": NOW}),
    (map_data.sensor_points, {"sensor_ids": list(SENSOR_IDS[:3]) + [WX], "metric": "pm10", "now": NOW}),
    (map_data.sensor_points, {"now": NOW}),
    (
        map_data.replay_frames,
        {
            "metric": "temperature",
            "sensor_ids": WXS,
            "start": NOW - timedelta(hours=3),
            "end": NOW,
            "step_s": 300,
            "base_window_s": 60,
        },
    ),  # fmt: skip
    (
        map_data.replay_frames,
        {
            "metric": "temperature",
            "sensor_ids": WXS,
            "start": NOW - timedelta(hours=4),
            "end": NOW,
            "step_s": 3600,
            "base_window_s": 3600,
        },
    ),  # fmt: skip
    # Sensor
    (sensor_info, {"sensor_id": WX, "now": NOW}),
    (sensor_data.latest_by_metric, {"sensor_id": WX, "now": NOW}),
    (sensor_data.battery_hourly, {"sensor_id": WX, "start": NOW - timedelta(days=3), "end": NOW}),
    (battery_forecast, {"sensor_id": WX, "now": NOW}),
    (sensor_data.alert_history, {"sensor_id": SENSOR_IDS[0]}),
    (sensor_data.gaps, {"sensor_id": WX, "start": NOW - timedelta(hours=2), "end": NOW, "factor": 5}),
    (sensor_data.gaps, {"sensor_id": WX, "start": NOW - timedelta(hours=30), "end": NOW, "factor": 60}),
    (sensor_data.stuck_runs, {"sensor_id": WX, "start": NOW - timedelta(hours=3), "end": NOW, "min_run": 3}),
    (sensor_data.status_shares, {"sensor_id": WX, "start": NOW - timedelta(hours=1), "end": NOW}),
    (sensor_data.status_shares, {"sensor_id": WX, "start": NOW - timedelta(hours=3), "end": NOW}),
    (sensor_data.status_shares, {"sensor_id": WX, "start": NOW - timedelta(days=3), "end": NOW}),
    # Pipeline
    (latency_samples, {"seconds": 24 * 3600}),
    (pipeline.stage_latency, {"start": NOW - timedelta(hours=1), "end": NOW}),
    (pipeline.throughput, {"start": NOW - timedelta(hours=1), "end": NOW}),
    (pipeline.latency_series, {"start": NOW - timedelta(hours=1), "end": NOW, "step_s": 300}),
    (pipeline.freshness, {"now": NOW}),
    (pipeline.freshness, {"sensor_ids": list(SENSOR_IDS[:4]), "now": NOW}),
    (pipeline.quarantine_counts, {"start": NOW - timedelta(hours=1), "end": NOW}),
    (pipeline.quarantine_samples, {"start": NOW - timedelta(hours=1), "end": NOW, "per_reason": 2}),
    (pipeline.quarantine_samples, {"start": NOW - timedelta(hours=1), "end": NOW, "reason": "out_of_range"}),
]


def _normalise(result):
    if isinstance(result, tuple):
        return tuple(_normalise(r) for r in result)
    if isinstance(result, pd.DataFrame):
        frame = result.reset_index(drop=True)
        for column in frame.columns:
            if pd.api.types.is_float_dtype(frame[column]):
                frame[column] = frame[column].round(9)
        return frame
    return result


@pytest.mark.parametrize(("fn", "kwargs"), CALLS, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CALLS)])
def test_dashboard_queries_return_the_same_on_both(fn, kwargs, tsdb_url, plain_url):
    engines = [make_engine(tsdb_url), make_engine(plain_url)]
    try:
        on_timescale, on_plain = (_normalise(fn(engine, **kwargs)) for engine in engines)
    finally:
        for engine in engines:
            engine.dispose()
    if isinstance(on_plain, tuple):
        pd.testing.assert_frame_equal(on_timescale[0], on_plain[0], check_dtype=False)
        assert on_timescale[1] == on_plain[1]
    elif isinstance(on_plain, pd.DataFrame):
        assert len(on_plain) > 0
        pd.testing.assert_frame_equal(on_timescale, on_plain, check_dtype=False)
    else:
        assert on_timescale == on_plain
