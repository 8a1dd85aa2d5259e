"""Spark job vs lite processor, same input, one run: readings/s parsed, validated, aggregated and written.

The input: simulated JSON messages (multi-metric records, the simulator's default shape) as JSON-lines files.
  lite   LiteProcessor (ingestion/validation.py + Writer.write with its windows), file by file
  spark  the Spark job (ingestion/spark), local[N], files source, available-now trigger, foreachBatch sink
         (Writer.write raw + sensor_latest, Writer.upsert_windows for the windows Spark computed)
Each side writes into its own fresh database on the same server; both times include the database writes.
The Spark figure excludes the session start (JVM) but includes planning and every micro-batch.

Default input: 1,000 ticks of the 60 sensors (60,000 messages, 231,000 readings) in 2 files, one file per
micro-batch: Spark has a fixed cost per micro-batch of a few seconds (planning, state store commits), so small
micro-batches measure that cost rather than the throughput; `--files 6 --ticks 300` shows it.

Usage: .venv/bin/python -m bench.spark [--ticks 1000] [--files 2] [--cores 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.ingest import drop_db, fresh_db
from db import settings
from ingestion.processor import LiteProcessor
from ingestion.simulator import Simulator
from ingestion.validation import Validator
from ingestion.writer import Writer

START = 1_793_000_000.0


def make_files(directory: Path, ticks: int, files: int, step: float) -> int:
    """`ticks` simulator ticks (one message per sensor each) in `files` JSON-lines files; returns messages."""
    sim = Simulator(seed=11)
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-ticks // files)
    total = 0
    for f in range(files):
        lines = []
        for k in range(f * per_file, min(ticks, (f + 1) * per_file)):
            lines += sim.tick(START + k * step)
        (directory / f"batch-{f:05d}.jsonl").write_bytes(b"".join(m.replace(b"\n", b" ") + b"\n" for m in lines))
        total += len(lines)
    return total


def bench_lite(directory: Path, url: str) -> tuple[float, int]:
    with Writer(url, processor="lite") as writer:
        processor = LiteProcessor(writer, Validator(source="files"), max_batch=10_000_000)
        started = time.perf_counter()
        for path in sorted(directory.glob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                processor.submit(line)
            processor.flush()
        elapsed = time.perf_counter() - started
    return elapsed, processor.totals.stored


def bench_spark(spark, directory: Path, url: str, checkpoint: Path, max_files: int) -> tuple[float, int]:
    from ingestion.spark.job import JobConfig, run_until_done

    config = JobConfig(
        source="files",
        path=str(directory),
        max_files_per_trigger=max_files,
        checkpoint=str(checkpoint),
        trigger="available-now",
        database_url=url,
    )
    started = time.perf_counter()
    query, totals = run_until_done(spark, config)
    elapsed = time.perf_counter() - started
    if query.exception() is not None:
        raise RuntimeError(str(query.exception()))
    print(where_the_time_goes(query, totals))
    return elapsed, totals.stored


def where_the_time_goes(query, totals) -> str:
    """Spark's own durations of the micro-batches (StreamingQueryProgress.durationMs, summed) and the sink's split
    of addBatch into computing the plan (read, validate, windows, collected as Arrow) and the database writes."""
    durations: dict[str, float] = {}
    batches = 0
    for progress in query.recentProgress:
        batches += 1
        for name, ms in progress.get("durationMs", {}).items():
            durations[name] = durations.get(name, 0.0) + ms / 1000.0
    spark_side = ", ".join(f"{name} {s:.2f}s" for name, s in sorted(durations.items(), key=lambda kv: -kv[1]))
    return (
        f"  spark: {batches} micro-batches ({totals.batches} with data): {spark_side}\n"
        f"  sink: computing the micro-batches {totals.compute_s:.2f}s, database writes {totals.write_s:.2f}s"
    )


def count(url: str, table: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")  # table: a constant of this file
            return cur.fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=1000, help="simulator ticks (each: one message per sensor)")
    parser.add_argument("--step", type=float, default=1.0, help="seconds of event time between ticks")
    parser.add_argument("--files", type=int, default=2, help="JSON-lines files (= Spark micro-batches)")
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N]")
    args = parser.parse_args()

    if settings.is_embedded():
        from db.embedded import from_environment

        from_environment().start()
    admin = settings.with_database(settings.owner_url(), "postgres")

    from ingestion.spark.job import local_session

    spark = local_session(args.cores)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        landing = Path(tmp) / "landing"
        messages = make_files(landing, args.ticks, args.files, args.step)
        print(f"input: {messages:,} messages in {args.files} files ({args.ticks} ticks)")
        results = {}
        for name in ("lite", "spark"):
            db = fresh_db(admin)
            try:
                url = settings.with_database(admin, db)
                if name == "lite":
                    elapsed, stored = bench_lite(landing, url)
                else:
                    elapsed, stored = bench_spark(spark, landing, url, Path(tmp) / "checkpoint", 1)
                agg = count(url, "sensor_data_agg")
            finally:
                drop_db(admin, db)
            results[name] = stored / elapsed
            print(
                f"{name:6s} {stored:>10,} readings stored, {agg:>8,} windows, {elapsed:7.2f}s = "
                f"{results[name]:>9,.0f} readings/s"
            )
    spark.stop()
    print(
        f"spark / lite = {results['spark'] / results['lite']:.2f}x  (local[{args.cores}], {args.files} micro-batches)"
    )


if __name__ == "__main__":
    main()
