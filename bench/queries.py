"""Dashboard query latency on a large database, against a pandas baseline measured in the same run.

Builds (once, cached by name) a database with N raw readings spread over the last days and 90 days of
1-minute + 1-hour aggregates for every sensor and metric, generated in SQL (the writer's throughput is measured
by bench/ingest.py). Then times, over --repeat runs each:
  live       everything the Live page reads: sensor_status, latest_readings, metric_overview, throughput,
             a 15-minute raw series of 4 sensors
  trends30d  a 30-day series of 6 sensors from the aggregates (the Trends page)
  baseline   the same 30-day series read from RAW rows and resampled with pandas (what a naive page does)

Usage: .venv/bin/python -m bench.queries [--raw-rows 20000000] [--repeat 20] [--rebuild]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2

from data_access import queries
from data_access.engine import make_engine
from db import settings
from db.migrate import migrate
from ingestion.catalogue import SENSORS
from ingestion.registry import sync_catalogue

DB = "bench_queries"

_RAW = """
INSERT INTO sensor_data (time, sensor_id, metric, value, status)
SELECT %(end)s::timestamptz - make_interval(secs => g.i * %(step)s), s.sensor_id, s.metric,
       20 + 10 * sin(g.i / 500.0) + (abs(hashint4((g.i # s.k)::int)) %% 100) / 50.0, 'ok'
  FROM (SELECT sensor_id, metric, row_number() OVER () AS k
          FROM sensors, unnest(%(metrics)s::text[]) AS metric) s
 CROSS JOIN generate_series(0, %(per_key)s - 1) AS g(i)
"""

_AGG = """
INSERT INTO sensor_data_agg (window_start, window_end, sensor_id, metric, avg, min, max, count, stddev,
                             sum_value, sum_sq)
SELECT w, w + make_interval(secs => %(size)s), s.sensor_id, s.metric, v, v - 1, v + 1, 60, 0.5, 60 * v,
       60 * v * v
  FROM (SELECT sensor_id, metric FROM sensors, unnest(%(metrics)s::text[]) AS metric) s
 CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz, make_interval(secs => %(size)s)) AS w
 CROSS JOIN LATERAL (SELECT 20 + 10 * sin(extract(epoch FROM w) / 30000.0) AS v) x
"""


def build(admin: str, raw_rows: int, rebuild: bool) -> str:
    url = admin.rsplit("/", 1)[0] + "/" + DB
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,))
        exists = cur.fetchone() is not None
        if exists and not rebuild:
            conn.close()
            migrate(url)  # a database built before a new migration gets it (e.g. an index)
            return url
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()
    migrate(url)
    conn = psycopg2.connect(url)
    sync_catalogue(conn)
    metrics = ["temperature", "humidity", "pm10", "noise"]
    keys = len(SENSORS) * len(metrics)
    per_key = raw_rows // keys
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute(_RAW, {"end": end, "step": 10, "metrics": metrics, "per_key": per_key})
        conn.commit()
        print(
            f"raw: {keys * per_key:,} rows ({per_key * 10 / 86400:.1f} days at 10 s) in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        for size in (60, 3600):
            cur.execute(_AGG, {"size": size, "metrics": metrics, "start": end - timedelta(days=90), "end": end})
            conn.commit()
        cur.execute(
            "INSERT INTO sensor_latest (sensor_id, metric, time, value, status) "
            "SELECT DISTINCT ON (sensor_id, metric) sensor_id, metric, time, value, status FROM sensor_data "
            "ORDER BY sensor_id, metric, time DESC"
        )
        conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    print(f"built in {time.perf_counter() - started:.0f}s", flush=True)
    return url


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-rows", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if settings.is_embedded():
        from db.embedded import from_environment

        from_environment().start()
    admin = settings.owner_url().rsplit("/", 1)[0] + "/postgres"
    url = build(admin, args.raw_rows, args.rebuild)
    engine = make_engine(url)
    sensors = tuple(s.sensor_id for s in SENSORS if s.kind == "weather")[:6]
    now = datetime.now(UTC)

    def live():
        queries.sensor_status(engine)
        queries.latest_readings(engine)
        queries.metric_overview(engine)
        queries.throughput(engine)
        queries.timeseries(
            engine, sensor_ids=sensors[:4], metric="temperature", start=now - timedelta(minutes=15), end=now
        )

    def trends():
        frame, _ = queries.timeseries(
            engine, sensor_ids=sensors, metric="temperature", start=now - timedelta(days=30), end=now
        )
        return frame

    def baseline():
        with engine.connect() as conn:
            raw = pd.read_sql(
                queries.sa.text(
                    "SELECT time, sensor_id, value FROM sensor_data WHERE metric = 'temperature' "
                    "AND sensor_id = ANY(:s) AND time >= :start"
                ),
                conn,
                params={"s": list(sensors), "start": now - timedelta(days=30)},
            )
        return raw.set_index("time").groupby("sensor_id")["value"].resample("1h").mean()

    results = {}
    for name, fn, repeat in (
        ("live", live, args.repeat),
        ("trends30d", trends, args.repeat),
        ("baseline", baseline, max(3, args.repeat // 5)),
    ):
        samples = timed(fn, repeat)
        results[name] = samples
        print(f"{name:10s} p50 {statistics.median(samples):8.1f} ms   p95 {p95(samples):8.1f} ms   (n={repeat})")
    ratio = statistics.median(results["baseline"]) / statistics.median(results["trends30d"])
    print(f"trends30d vs pandas-on-raw baseline: {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
