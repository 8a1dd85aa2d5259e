"""Dashboard query latency on a large database: exactly the reads each page makes, against a pandas baseline
measured in the same run, on both branches of DESIGN §2 side by side (plain PostgreSQL and TimescaleDB:
bench/branches.py).

Builds (once per server, cached by name) a database with N raw readings spread over the days before the build and
--agg-days of 1-minute + 1-hour aggregates for every sensor and metric (and their 6-hour rollup, migration 0013),
generated in SQL (the writer's throughput is measured by bench/ingest.py); at every run it re-seeds the small
tables the pages also read (24 h of pipeline KPIs and ingest ledger, Spark batches, alerts over 90 days, quarantined
messages, consumer heartbeats) relative to the data's end. Then:
  pages      each page is run once in Streamlit's AppTest with a recorder around components.data.load
             (bench/page_calls.py), the dashboard clock pinned at the data's end: the reads it made, with their
             arguments, are the page's set. Each set is timed --repeat times (p50 / p95 of the page's whole set,
             and each read's own p95: where the time goes). Targets (DESIGN §6): live ≤ 50 ms, trends over
             30 days ≤ 150 ms (the Trends page is recorded with range=30d).
  baseline   the Trends page's 30-day series read from RAW rows and resampled with pandas (what a naive page does),
             against the same series read by the page (≥ 20× faster).
and the disk size of the raw table. On TimescaleDB it measures the same again with every raw chunk compressed
(the compression policy's end state), and a continuous aggregate of the raw rows (1-hour buckets) against the
writer-maintained 1-hour windows: refresh cost and the 30-day series read from each. The load average is printed
with the results: the machine is shared.

Usage: .venv/bin/python -m bench.queries [--raw-rows 20000000] [--agg-days 90] [--minute-days N] [--repeat 20]
                                         [--rebuild] [--pages live,trends,...]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import sqlalchemy as sa

from bench import load_average
from bench.branches import branch_servers, url_for
from bench.page_calls import PAGES, Call, data_end, record_pages, seed_activity
from data_access import queries
from data_access.engine import make_engine
from db.migrate import migrate, timescaledb_enabled
from db.settings import ROLE_USERS, with_user
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
        if exists and not rebuild and built(url):
            conn.close()
            migrate(url)  # a database built before a new migration gets it (e.g. an index)
            return url
        if exists and not rebuild:
            print(f"{DB} exists but its build did not finish (no bench_built row): building it again", flush=True)
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
        # the 6-hour rollup (migration 0013) from those 1-hour windows, as the writer would have kept it
        cur.execute("SELECT madinina_rollup_agg_6h(NULL, NULL)")
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
        # the mark of a finished build: a build interrupted half-way is never measured as if it were complete
        cur.execute("CREATE TABLE bench_built AS SELECT now() AS built_at, %s::bigint AS raw_rows", (keys * per_key,))
    conn.close()
    print(f"built in {time.perf_counter() - started:.0f}s", flush=True)
    return url


def built(url: str) -> bool:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_built') IS NOT NULL")
        return cur.fetchone()[0]


def timed(fn, repeat: int, slow_ms: float | None = None) -> list[float]:
    started = time.perf_counter()
    fn()  # warm
    if slow_ms is not None and (time.perf_counter() - started) * 1000 > slow_ms:
        repeat = min(repeat, 3)
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


def reader(url: str) -> str:
    return with_user(url, ROLE_USERS["reader"], None)


def series_call(calls: list[Call]) -> Call:
    """The page's own series read (sensor_ids, metric or metrics, start, end): the baseline's like for like."""
    series = [
        c
        for c in calls
        if {"sensor_ids", "start", "end"} <= dict(c.kwargs).keys() and {"metric", "metrics"} & dict(c.kwargs).keys()
    ]
    if not series:
        raise RuntimeError("the Trends page made no series read: nothing to compare with the baseline")
    # the page's own range (the latest-ending read, not the comparison period before it, which raw rows do not
    # reach); of reads ending together, the longest
    return max(series, key=lambda c: (dict(c.kwargs)["end"], dict(c.kwargs)["end"] - dict(c.kwargs)["start"]))


BASELINE_SENSORS, BASELINE_METRICS = 6, 1


def like_for_like(call: Call) -> Call:
    """The page's series read cut to BASELINE_SENSORS sensors x BASELINE_METRICS metric(s), same range, window and
    plan: the raw + pandas baseline of all of them would read every raw row (20M) into memory."""
    args = dict(call.kwargs)
    args["sensor_ids"] = tuple(args["sensor_ids"])[:BASELINE_SENSORS]
    if "metrics" in args:
        args["metrics"] = tuple(args["metrics"])[:BASELINE_METRICS]
    return Call(call.module, call.name, tuple(sorted(args.items())))


def baseline(engine, call: Call):
    """The same series from RAW rows resampled with pandas at the series' bucket width."""
    args = dict(call.kwargs)
    metrics = list(args.get("metrics") or [args["metric"]])
    step_s = args.get("window_s") or getattr(args.get("resolution"), "step_s", None) or 3600
    with engine.connect() as conn:
        raw = pd.read_sql(
            queries.sa.text(
                "SELECT time, sensor_id, metric, value FROM sensor_data WHERE metric = ANY(:m) "
                "AND sensor_id = ANY(:s) AND time >= :start AND time < :end"
            ),
            conn,
            params={"m": metrics, "s": list(args["sensor_ids"]), "start": args["start"], "end": args["end"]},
        )
    if raw.empty:  # a comparison against nothing would be a meaningless ratio
        raise RuntimeError(f"the baseline read no raw rows for {call.label}: {args}")
    raw["time"] = pd.to_datetime(raw["time"], utc=True)  # one dtype whatever the driver gave (mixed offsets)
    grouped = raw.set_index("time").groupby(["metric", "sensor_id"])["value"]
    return grouped.resample(pd.Timedelta(seconds=step_s)).agg(["mean", "min", "max", "count"])


def timing_engine(url: str):
    """The dashboard's engine (its role, options, pool), without its 15 s statement timeout: a read over it is timed
    to the end, to say where the time goes."""
    engine = make_engine(reader(url))

    @sa.event.listens_for(engine, "connect")
    def _no_timeout(dbapi_connection, _record):
        with dbapi_connection.cursor() as cur:
            cur.execute("SET statement_timeout = 0")
        # committed: uncommitted, the pool's rollback at the first check-in undid it (15 s again from the 2nd use)
        dbapi_connection.commit()

    return engine


SLOW_MS = 5000  # a page set slower than this is timed 3 times, not --repeat times


def measure(url: str, calls: dict[str, list[Call]], repeat: int) -> dict[str, float]:
    """p50 / p95 of each page's whole set of reads, each read's p95, and the baseline; milliseconds."""
    engine = timing_engine(url)
    out: dict[str, float] = {}
    try:
        for page, page_calls in calls.items():
            per_call: list[list[float]] = [[] for _ in page_calls]

            def run_set(page_calls=page_calls, per_call=per_call):
                for call, samples in zip(page_calls, per_call, strict=True):
                    started = time.perf_counter()
                    call(engine)
                    samples.append((time.perf_counter() - started) * 1000)

            totals = timed(run_set, repeat, slow_ms=SLOW_MS)
            out[f"{page} p50"], out[f"{page} p95"] = statistics.median(totals), p95(totals)
            slowest = sorted(zip(page_calls, per_call, strict=True), key=lambda cs: -p95(cs[1][1:]))[:3]
            out[f"{page} slowest"] = ", ".join(f"{c.label} {p95(s[1:]):.1f}" for c, s in slowest)
        if "trends" in calls:
            call = like_for_like(series_call(calls["trends"]))
            series = timed(lambda: call(engine), repeat)
            naive = timed(lambda: baseline(engine, call), max(3, repeat // 5))
            out["trends series p50"], out["trends series p95"] = statistics.median(series), p95(series)
            out["baseline p50"], out["baseline p95"] = statistics.median(naive), p95(naive)
            out["series vs baseline"] = out["baseline p50"] / out["trends series p50"]
    finally:
        engine.dispose()
    return out


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
    parser.add_argument("--pages", default=",".join(PAGES), help="pages to record and time (default: all)")
    parser.add_argument("--no-cagg", action="store_true", help="skip the continuous-aggregate comparison")
    args = parser.parse_args()
    pages = {p: PAGES[p] for p in args.pages.split(",")}
    columns: dict[str, dict[str, float]] = {}
    notes: dict[str, dict[str, str]] = {}
    print(f"load average at start: {load_average()}", flush=True)
    with branch_servers() as servers:
        for branch, admin in servers.items():
            url = build(admin, args.raw_rows, args.agg_days, args.minute_days or args.agg_days, args.rebuild)
            end = data_end(url)
            seed_activity(url, end)
            calls, errors = record_pages(url, end, pages)
            # The AppTest recording leaves many objects behind: without this, one collector pause of ~80-100 ms
            # lands inside the first timed set and becomes its p95 at n = 20 (measured on wt-live, 2026-12-02).
            gc.collect()
            gc.freeze()
            for page, page_calls in calls.items():
                print(f"{branch} {page}: {len(page_calls)} reads: " + ", ".join(c.label for c in page_calls))
                if page in errors:
                    print(f"{branch} {page}: THE PAGE RAISED: {errors[page]}", flush=True)
            variants = [(branch, False)]
            if timescaledb_enabled(url):
                set_compression(url, False)  # a database kept from an earlier run may be compressed
                variants.append((f"{branch}+compressed", True))
            for label, compressed in variants:
                column = columns[label] = {}
                if compressed:
                    column["compress_s"] = set_compression(url, True)
                column["raw_mib"] = raw_size(url) / 2**20
                for key, value in measure(url, calls, args.repeat).items():
                    if isinstance(value, str):
                        notes.setdefault(label, {})[key] = value
                    else:
                        column[key] = value
                print(f"{label}: " + ", ".join(f"{k} {v:,.1f}" for k, v in column.items()), flush=True)
            if timescaledb_enabled(url):
                set_compression(url, False)
                if not args.no_cagg:
                    cagg_report(url, branch, args.repeat)
    labels = list(columns)
    print()
    print(f"{'ms unless said':28s}" + "".join(f"{label:>24s}" for label in labels))
    for key in dict.fromkeys(k for column in columns.values() for k in column):
        print(f"{key:28s}" + "".join(f"{columns[label].get(key, float('nan')):>24,.1f}" for label in labels))
    print("slowest reads per page (p95 ms):")
    for label, page_notes in notes.items():
        for key, value in page_notes.items():
            print(f"  {label:24s} {key.split()[0]:9s} {value}")
    plain, compressed = columns.get("plain"), columns.get("timescaledb+compressed")
    if plain and compressed:
        print(f"raw size plain / TimescaleDB compressed = {plain['raw_mib'] / compressed['raw_mib']:.1f}x")
    if "timescaledb" in columns and compressed:
        print(f"compression ratio = {columns['timescaledb']['raw_mib'] / compressed['raw_mib']:.1f}x")
    print(f"load average at end: {load_average()}", flush=True)


def cagg_report(url: str, branch: str, repeat: int) -> None:
    now = datetime.now(UTC)
    sensors = tuple(s.sensor_id for s in SENSORS if s.kind == "weather")[:6]
    engine = make_engine(url)
    try:
        cagg = continuous_aggregate(url, engine, sensors, now - timedelta(days=30), now, repeat)
    finally:
        engine.dispose()
    print(
        f"{branch} continuous aggregate (1 h): refresh of every raw row {cagg['refresh_s']:.1f}s "
        f"= {cagg['refresh_rows_s']:,.0f} rows/s; 30-day series p95 {cagg['cagg_p95']:.1f} ms from the "
        f"continuous aggregate vs {cagg['windows_p95']:.1f} ms from the writer's 1-hour windows",
        flush=True,
    )


if __name__ == "__main__":
    main()
