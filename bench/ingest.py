"""Writer throughput against two baselines measured in the same run, on the same rows, on both branches of
DESIGN §2 side by side (plain PostgreSQL and TimescaleDB, two embedded servers: bench/branches.py).

  writer      ingestion.writer.Writer: staging COPY + idempotent raw insert + sensor_latest + 3 window kinds
  writer, no windows  Writer.write(aggregates=False), the Spark sink's path: raw + sensor_latest only, always
              through ON CONFLICT (the conflict-free fast path is only taken with windows), so it is not "the
              writer minus its windows"; the windows' alternative on TimescaleDB, a continuous aggregate, is
              measured by bench/queries.py
  executemany per-row INSERT ... ON CONFLICT DO NOTHING through psycopg2 executemany (the naive baseline)
  bare COPY   COPY of the same rows into an unindexed plain table (the ceiling)

Usage: .venv/bin/python -m bench.ingest [--rows 1000000] [--baseline-rows 20000]
Uses its own throw-away databases on each server (or only DATABASE_URL's server).
"""

from __future__ import annotations

import argparse
import io
import time
import uuid
from pathlib import Path

import pandas as pd
import psycopg2

from bench import load_average
from bench.branches import branch_servers, url_for
from db.migrate import MIGRATIONS_DIR, migrate
from ingestion.registry import sync_catalogue
from ingestion.simulator import Simulator
from ingestion.writer import Writer, csv_payload


def make_rows(n: int) -> pd.DataFrame:
    sim = Simulator(seed=7)
    start = 1_763_800_000.0
    chunks, total = [], 0
    step = 1.0
    end = start + 3600
    while total < n:
        for chunk in sim.history(start, end, step_s=step):
            chunks.append(chunk)
            total += len(chunk)
            if total >= n:
                break
        start, end = end, end + 3600
    return pd.concat(chunks, ignore_index=True).iloc[:n].reset_index(drop=True)


def fresh_db(admin_url: str, migrations: Path = MIGRATIONS_DIR) -> str:
    name = "bench_" + uuid.uuid4().hex[:8]
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    url = url_for(admin_url, name)
    migrate(url, migrations)
    conn = psycopg2.connect(url)
    sync_catalogue(conn)
    conn.close()
    return name


def drop_db(admin_url: str, name: str) -> None:
    """FORCE: connections still open (the Spark executors' workers keep theirs between tasks) do not block the drop."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # name: made by fresh_db
    conn.close()


def bench_writer(url: str, rows: pd.DataFrame, batch: int, aggregates: bool = True) -> float:
    with Writer(url, processor="bench") as writer:
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            writer.write(rows.iloc[i : i + batch], aggregates=aggregates)
        return time.perf_counter() - started


def bench_executemany(url: str, rows: pd.DataFrame) -> float:
    conn = psycopg2.connect(url)
    values = list(zip(rows["time"].dt.to_pydatetime(), rows["sensor_id"], rows["metric"], rows["value"], strict=True))
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sensor_data (time, sensor_id, metric, value) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            values,
        )
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def bench_bare_copy(url: str, rows: pd.DataFrame) -> float:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE bare (t_us bigint, sensor_id text, metric text, value double precision, status text)")
    conn.commit()
    payload = csv_payload(rows)  # same serialisation as the writer, timed inside like the writer
    started = time.perf_counter()
    payload = csv_payload(rows)
    with conn.cursor() as cur:
        cur.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv)", io.BytesIO(payload))
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows for the slow executemany")
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()

    rows = make_rows(args.rows)
    print(f"rows: {len(rows):,} ({rows['sensor_id'].nunique()} sensors, {rows['metric'].nunique()} metrics)")
    print(f"load average at start: {load_average()}", flush=True)
    paths = (
        ("writer", lambda url: bench_writer(url, rows, args.batch), len(rows)),
        ("writer, no windows", lambda url: bench_writer(url, rows, args.batch, aggregates=False), len(rows)),
        ("executemany", lambda url: bench_executemany(url, rows.iloc[: args.baseline_rows]), args.baseline_rows),
        ("bare COPY", lambda url: bench_bare_copy(url, rows), len(rows)),
    )
    results: dict[str, dict[str, float]] = {}
    with branch_servers() as servers:
        for branch, admin in servers.items():
            results[branch] = {}
            for name, fn, subset in paths:
                db = fresh_db(admin)
                try:
                    elapsed = fn(url_for(admin, db))
                finally:
                    drop_db(admin, db)
                results[branch][name] = subset / elapsed
                print(f"{branch:12s} {name:20s} {subset:>10,} rows in {elapsed:7.2f}s", flush=True)
    branches = list(results)
    print()
    print(f"{'readings/s':22s}" + "".join(f"{b:>14s}" for b in branches))
    for name, _, _ in paths:
        print(f"{name:22s}" + "".join(f"{results[b][name]:>14,.0f}" for b in branches))
    for label, num, den in (
        ("writer / executemany", "writer", "executemany"),
        ("writer / bare COPY", "writer", "bare COPY"),
        ("writer / no windows", "writer", "writer, no windows"),
    ):
        print(f"{label:22s}" + "".join(f"{results[b][num] / results[b][den]:>13.2f}x" for b in branches))
    if len(branches) == 2:
        print(f"writer timescaledb / plain = {results[branches[1]]['writer'] / results[branches[0]]['writer']:.2f}x")
    print(f"load average at end: {load_average()}", flush=True)


if __name__ == "__main__":
    main()
