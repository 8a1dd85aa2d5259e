"""Dashboard query latency on a large database, against a pandas baseline measured in the same run, on both
branches of DESIGN §2 side by side (plain PostgreSQL and TimescaleDB: bench/branches.py).

Builds (once per server, cached by name) a database with N raw readings spread over the last days and
--agg-days of 1-minute + 1-hour aggregates for every sensor and metric, generated in SQL (the writer's
throughput is measured by bench/ingest.py). Then times, over --repeat runs each:
  live       everything the Live page reads: sensor_status, latest_readings, metric_overview, throughput,
             a 15-minute raw series of 4 sensors
  trends30d  a 30-day series of 6 sensors from the aggregates (the Trends page)
  baseline   the same 30-day series read from RAW rows and resampled with pandas (what a naive page does)
and the disk size of the raw table. On TimescaleDB it measures the same again with every raw chunk compressed
(the compression policy's end state), and a continuous aggregate of the raw rows (1-hour buckets) against the
writer-maintained 1-hour windows: refresh cost and the 30-day series read from each.

Usage: .venv/bin/python -m bench.queries [--raw-rows 20000000] [--agg-days 90] [--minute-days N] [--repeat 20]
                                         [--rebuild]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2

from bench.branches import branch_servers, url_for
from data_access import queries
from data_access.engine import make_engine
from db.migrate import migrate, timescaledb_enabled
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


def build(admin: str, raw_rows: int, agg_days: int, minute_days: int, rebuild: bool) -> str:
    url = url_for(admin, DB)
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
        for size, days in ((60, minute_days), (3600, agg_days)):
            cur.execute(_AGG, {"size": size, "metrics": metrics, "start": end - timedelta(days=days), "end": end})
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


def raw_size(url: str) -> int:
    """Bytes of the raw table with its indexes (and, on TimescaleDB, every chunk, compressed or not)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        if timescaledb_enabled(url):
            cur.execute("SELECT hypertable_size('sensor_data')")
        else:
            cur.execute("SELECT pg_total_relation_size('sensor_data')")
        return cur.fetchone()[0]


def set_compression(url: str, compressed: bool) -> float:
    """Compress (or decompress) every raw chunk; seconds taken."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    started = time.perf_counter()
    with conn.cursor() as cur:
        call = (
            "compress_chunk(c, if_not_compressed => true)"
            if compressed
            else "decompress_chunk(c, if_compressed => true)"
        )
        cur.execute(f"SELECT count({call}) FROM show_chunks('sensor_data') c")
        if compressed:
            cur.execute("VACUUM ANALYZE sensor_data")
    conn.close()
    return time.perf_counter() - started


_CAGG_SERIES = """
SELECT bucket AS time, sensor_id, avg_value AS value FROM bench_cagg_1h
 WHERE metric = %(metric)s AND sensor_id = ANY(%(sensors)s) AND bucket >= %(start)s AND bucket < %(end)s
 ORDER BY sensor_id, bucket
"""


def continuous_aggregate(url: str, engine, sensors: tuple[str, ...], start, end, repeat: int) -> dict[str, float]:
    """Build a 1-hour continuous aggregate of the raw rows; time its refresh and a series read from it, against the
    same series from the writer-maintained 1-hour windows (queries.timeseries, agg source)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP MATERIALIZED VIEW IF EXISTS bench_cagg_1h")
        cur.execute(
            "CREATE MATERIALIZED VIEW bench_cagg_1h WITH (timescaledb.continuous) AS "
            "SELECT time_bucket('1 hour', time) AS bucket, sensor_id, metric, avg(value) AS avg_value, "
            "min(value) AS min_value, max(value) AS max_value, count(*) AS n, stddev(value) AS sd "
            "FROM sensor_data GROUP BY 1, 2, 3 WITH NO DATA"
        )
        cur.execute("SELECT count(*) FROM sensor_data")
        raw = cur.fetchone()[0]
        started = time.perf_counter()
        cur.execute("CALL refresh_continuous_aggregate('bench_cagg_1h', NULL, NULL)")
        refresh = time.perf_counter() - started

        def series():
            cur.execute(_CAGG_SERIES, {"metric": "temperature", "sensors": list(sensors), "start": start, "end": end})
            return cur.fetchall()

        from_cagg = timed(series, repeat)
    from_windows = timed(
        lambda: queries.timeseries(
            engine,
            sensor_ids=sensors,
            metric="temperature",
            start=start,
            end=end,
            resolution=queries.Resolution("agg", 3600, 3600),
        ),
        repeat,
    )
    with conn.cursor() as cur:
        cur.execute("DROP MATERIALIZED VIEW bench_cagg_1h")
    conn.close()
    return {
        "refresh_s": refresh,
        "refresh_rows_s": raw / refresh,
        "cagg_p95": p95(from_cagg),
        "windows_p95": p95(from_windows),
    }


def measure(url: str, repeat: int) -> dict[str, list[float]]:
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

    try:
        return {
            "live": timed(live, repeat),
            "trends30d": timed(trends, repeat),
            "baseline": timed(baseline, max(3, repeat // 5)),
        }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-rows", type=int, default=20_000_000)
    parser.add_argument("--agg-days", type=int, default=90, help="days of 1-hour windows")
    parser.add_argument(
        "--minute-days",
        type=int,
        default=None,
        help="days of 1-minute windows (default --agg-days; 97%% of the agg rows)",
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    with branch_servers() as servers:
        for branch, admin in servers.items():
            url = build(admin, args.raw_rows, args.agg_days, args.minute_days or args.agg_days, args.rebuild)
            variants = [(branch, False)]
            if timescaledb_enabled(url):
                set_compression(url, False)  # a database kept from an earlier run may be compressed
                variants.append((f"{branch}+compressed", True))
            for label, compressed in variants:
                column = columns[label] = {}
                if compressed:
                    column["compress_s"] = set_compression(url, True)
                column["raw_mib"] = raw_size(url) / 2**20
                samples = measure(url, args.repeat)
                for name, values in samples.items():
                    column[f"{name} p50"] = statistics.median(values)
                    column[f"{name} p95"] = p95(values)
                column["trends30d vs baseline"] = column["baseline p50"] / column["trends30d p50"]
                print(f"{label}: " + ", ".join(f"{k} {v:,.1f}" for k, v in column.items()), flush=True)
            if timescaledb_enabled(url):
                set_compression(url, False)
                now = datetime.now(UTC)
                sensors = tuple(s.sensor_id for s in SENSORS if s.kind == "weather")[:6]
                engine = make_engine(url)
                try:
                    cagg = continuous_aggregate(url, engine, sensors, now - timedelta(days=30), now, args.repeat)
                finally:
                    engine.dispose()
                print(
                    f"{branch} continuous aggregate (1 h): refresh of every raw row {cagg['refresh_s']:.1f}s "
                    f"= {cagg['refresh_rows_s']:,.0f} rows/s; 30-day series p95 {cagg['cagg_p95']:.1f} ms from the "
                    f"continuous aggregate vs {cagg['windows_p95']:.1f} ms from the writer's 1-hour windows",
                    flush=True,
                )
    labels = list(columns)
    print()
    print(f"{'':24s}" + "".join(f"{label:>24s}" for label in labels))
    for key in dict.fromkeys(k for column in columns.values() for k in column):
        print(f"{key:24s}" + "".join(f"{columns[label].get(key, float('nan')):>24,.1f}" for label in labels))
    plain, compressed = columns.get("plain"), columns.get("timescaledb+compressed")
    if plain and compressed:
        print(f"raw size plain / TimescaleDB compressed = {plain['raw_mib'] / compressed['raw_mib']:.1f}x")
    if "timescaledb" in columns and compressed:
        print(f"compression ratio = {columns['timescaledb']['raw_mib'] / compressed['raw_mib']:.1f}x")


if __name__ == "__main__":
    main()
