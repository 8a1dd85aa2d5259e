"""Spark job vs lite processor, same input, one run: readings/s validated, aggregated and written.

The input: simulator ticks of the 60 sensors (multi-metric records, the simulator's default shape), ~1M readings.
Files path (JSON-lines files, one file per Spark micro-batch):
  lite        LiteProcessor (validation + Writer.commit with its windows), file by file, in this process
  spark[N]    the Spark job, local[N] for each N of --cores, files source, available-now trigger
Kafka path (the same messages produced to Tansu, tests/support/kafka.py, --partitions partitions, key = sensor):
  producer    KafkaSink (ingestion/kafka_producer.py): the time to produce the topic, printed on its own
  lite        `python -m ingestion consume-kafka` (the lite Kafka consumer: spool -> processor -> database), from
              its start until the ledger holds every message
  spark[N]    the Spark job, --source kafka-python, available-now, --micro-batches micro-batches
Each run writes into its own fresh database on the same server. Spark's time excludes the session start (JVM) and
its first query's one-off costs (a warm-up query of 120 messages, timed and printed, pays them) but includes
planning and every micro-batch; "where the time goes" is the query's own
progress durations and the tasks' timers (summed over tasks: with N cores they add up to about N x the wall time).

With --fast-path on,off each Spark run is made twice, with the tasks' columnar fast path (the job's default,
ingestion/spark/fastpath.py) and without it (`--no-fast-path`: LiteProcessor.build for every message): before and
after in the same run. The lite processor is measured again before each core count's Spark runs, and --rounds N
repeats lite-then-Spark N times: each ratio is against the lite run just before it (on a shared machine the load
moves between runs), and the summary gives each round's ratio, the median and the lowest.

Usage: .venv/bin/python -m bench.spark [--ticks 4400] [--files 4] [--cores 1,2] [--paths files,kafka]
                                       [--fast-path on|off|on,off] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from bench import load_average
from bench.ingest import drop_db, fresh_db
from db import settings
from ingestion.processor import LiteProcessor
from ingestion.simulator import Simulator
from ingestion.validation import Validator
from ingestion.writer import Writer

START = 1_793_000_000.0
ROOT = Path(__file__).resolve().parents[1]


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


def lines_of(directory: Path) -> list[bytes]:
    return [line for path in sorted(directory.glob("*.jsonl")) for line in path.read_bytes().splitlines()]


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


def bench_spark(spark, url: str, checkpoint: Path, fast: bool, quiet: bool = False, **source) -> tuple[float, int]:
    from ingestion.spark.job import JobConfig, run_until_done

    config = JobConfig(checkpoint=str(checkpoint), trigger="available-now", database_url=url, fast_path=fast, **source)
    started = time.perf_counter()
    query, totals = run_until_done(spark, config)
    elapsed = time.perf_counter() - started
    if query.exception() is not None:
        raise RuntimeError(str(query.exception()))
    if not quiet:
        print(where_the_time_goes(query, totals, elapsed), flush=True)
    return elapsed, totals.stored


def warm_up(spark, tmp: Path, admin: str, label: str) -> None:
    """One small query (two ticks: 120 messages in 2 files, so 2 tasks) on a new session before it is measured,
    into a scratch database: the one-off costs of a session's first query (JIT, the first planning, the Python
    workers' start and imports: ~5-9 s measured) are paid once by a long-running job, not per micro-batch, and the
    measurement says what the job sustains. Printed, so the cold figure can be added back."""
    landing = tmp / f"warm-{label}"
    make_files(landing, 2, 2, 1.0)  # two files: two tasks, so that each of local[2]'s workers starts
    db = fresh_db(admin)
    try:
        started = time.perf_counter()
        bench_spark(spark, settings.with_database(admin, db), tmp / f"ck-warm-{label}", True, source="files",
                    path=str(landing), quiet=True)  # fmt: skip
        print(f"  (warm-up {label}: one query of 120 messages, {time.perf_counter() - started:.2f}s)", flush=True)
    finally:
        drop_db(admin, db)


def where_the_time_goes(query, totals, elapsed: float) -> str:
    durations: dict[str, float] = {}
    for progress in query.recentProgress:
        for name, ms in progress.get("durationMs", {}).items():
            durations[name] = durations.get(name, 0.0) + ms / 1000.0
    spark_side = ", ".join(f"{name} {s:.2f}s" for name, s in sorted(durations.items(), key=lambda kv: -kv[1]))
    return (
        f"    query: {len(query.recentProgress)} micro-batches, {totals.tasks} tasks, {elapsed:.2f}s: {spark_side}\n"
        f"    tasks (summed): Arrow -> messages {totals.read_s:.2f}s, validation {totals.validate_s:.2f}s "
        f"({totals.fast:,} of {totals.received:,} messages by the fast path), "
        f"Writer.commit {totals.write_s:.2f}s = {totals.task_s:.2f}s in {totals.tasks_wall_s:.2f}s from the first "
        f"task's start to the last's end ({totals.task_s / max(totals.tasks_wall_s, 1e-9):.2f} tasks at a time); "
        f"the sink's micro-batches {totals.batch_s:.2f}s wall"
    )


def count(url: str, table: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")  # table: a constant of this file
            return cur.fetchone()[0]
    finally:
        conn.close()


def ledger(url: str) -> tuple[int, int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(sum(received), 0), coalesce(sum(stored), 0) FROM ingest_ledger")
            return cur.fetchone()
    finally:
        conn.close()


def bench_lite_kafka(bootstrap: str, topic: str, url: str, messages: int, workdir: Path) -> tuple[float, int]:
    """The lite Kafka consumer as a process, from its start until the ledger has every message."""
    command = [sys.executable, "-m", "ingestion", "consume-kafka", "--kafka-bootstrap", bootstrap, "--kafka-topic",
               topic, "--group", f"bench-{time.time_ns()}", "--spool-dir", str(workdir / f"spool-{time.time_ns()}")]  # fmt: skip
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        while (received := ledger(url))[0] < messages:
            if proc.poll() is not None:
                raise RuntimeError(f"consume-kafka exited with {proc.returncode}")
            time.sleep(0.1)  # polling the ledger: adds up to 0.1 s to a measurement of ~10 s
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(60)
    return elapsed, received[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=4400, help="simulator ticks (each: one message per sensor)")
    parser.add_argument("--step", type=float, default=1.0, help="seconds of event time between ticks")
    parser.add_argument("--files", type=int, default=4, help="JSON-lines files (= Spark micro-batches)")
    parser.add_argument("--cores", default="1,2", help="Spark local[N] for each N")
    parser.add_argument("--paths", default="files,kafka")
    parser.add_argument("--partitions", type=int, default=2, help="Kafka topic partitions")
    parser.add_argument("--fast-path", default="on", help="on, off or on,off: Spark with/without the fast path")
    parser.add_argument("--rounds", type=int, default=1, help="lite then Spark, this many times per core count")
    args = parser.parse_args()
    print(f"load average {load_average()}", flush=True)

    if settings.is_embedded():
        from db.embedded import from_environment

        from_environment().start()
    admin = settings.with_database(settings.owner_url(), "postgres")  # keeps the URL's options (passfile)
    cores = [int(c) for c in args.cores.split(",")]
    modes = [{"on": True, "off": False}[m] for m in args.fast_path.split(",")]

    def measure(name: str, work) -> float:
        db = fresh_db(admin)
        try:
            url = settings.with_database(admin, db)
            elapsed, stored = work(url)
            agg = count(url, "sensor_data_agg")
        finally:
            drop_db(admin, db)
        rate = stored / elapsed
        print(f"  {name:21s} {stored:>10,} readings stored, {agg:>8,} windows, {elapsed:7.2f}s = {rate:>9,.0f} "
              "readings/s", flush=True)  # fmt: skip
        return rate

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        tmp = Path(tmp)
        landing = tmp / "landing"
        messages = make_files(landing, args.ticks, args.files, args.step)
        print(f"input: {messages:,} messages in {args.files} files ({args.ticks} ticks)", flush=True)
        # name -> [(its rate, the lite rate measured just before it)]: each ratio against its own, adjacent baseline.
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        from ingestion.spark.session import local_session

        def compare(transport: str, lite_name: str, lite_work, **source) -> None:
            rates = results.setdefault(transport, {})
            for n in cores:
                spark = local_session(n)
                try:
                    warm_up(spark, tmp, admin, f"{transport}-{n}")
                    for r in range(args.rounds):
                        lite_rate = measure(lite_name, lite_work)
                        for fast in modes:
                            name = f"spark local[{n}]" + ("" if fast else " exact")  # exact: without the fast path
                            checkpoint = tmp / f"ck-{transport}-{n}-{fast}-{r}"
                            run = lambda url, spark=spark, checkpoint=checkpoint, fast=fast: bench_spark(  # noqa: E731
                                spark, url, checkpoint, fast, **source
                            )
                            rates.setdefault(name, []).append((measure(name, run), lite_rate))
                finally:
                    spark.stop()

        if "files" in args.paths:
            print("files:", flush=True)
            compare("files", "lite", lambda url: bench_lite(landing, url), source="files", path=str(landing),
                    max_files_per_trigger=1)  # fmt: skip
        if "kafka" in args.paths:
            from ingestion.kafka_producer import KafkaSink
            from tests.support.kafka import tansu

            with tansu(tmp / "tansu") as broker:
                started = time.perf_counter()
                with KafkaSink(broker.bootstrap, "sensor_data", partitions=args.partitions) as sink:
                    sink.send_batch(lines_of(landing))
                print(f"kafka (Tansu, {args.partitions} partitions): producer {messages:,} messages in "
                      f"{time.perf_counter() - started:.2f}s", flush=True)  # fmt: skip
                lite = lambda url: bench_lite_kafka(broker.bootstrap, "sensor_data", url, messages, tmp)  # noqa: E731
                compare("kafka", "lite consume-kafka", lite, source="kafka-python", kafka_bootstrap=broker.bootstrap,
                        kafka_topic="sensor_data", max_offsets_per_trigger=-(-messages // args.files))  # fmt: skip
    for path, rates in results.items():
        for name, pairs in rates.items():
            ratios = sorted(rate / lite for rate, lite in pairs)
            print(f"{path}: {name} / lite = " + ", ".join(f"{rate / lite:.2f}x" for rate, lite in pairs)
                  + f" (median {statistics.median(ratios):.2f}x, lowest {ratios[0]:.2f}x; "
                  f"median {statistics.median(r for r, _ in pairs):,.0f} readings/s)")  # fmt: skip
    print(f"load average {load_average()}", flush=True)


if __name__ == "__main__":
    main()
