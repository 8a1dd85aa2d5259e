"""Freshness: how long after its timestamp a reading can be read by the Live page's query.

Runs the live ingestion for --duration seconds against a fresh database `bench_freshness`, once per path:
  direct   `python -m ingestion run` (simulator -> lite processor -> writer, in one process)
  mqtt     `python -m ingestion simulate --transport mqtt` -> Mosquitto -> `python -m ingestion consume`
  spark    `python -m ingestion simulate --transport files` (one file per second) -> `python -m ingestion spark
           run --source files --trigger "1 second"` (local[2]); sampling starts once the job has caught up with the
           backlog written while its JVM started (a micro-batch of at most 3 s of messages): start-up is not freshness
  kafka    `python -m ingestion simulate --transport kafka` -> Tansu (tests/support/kafka.py, 3 partitions) ->
           `python -m ingestion consume-kafka` (the lite Kafka consumer)
  spark-kafka  `simulate --transport kafka` -> Tansu -> `python -m ingestion spark run --source kafka-python
           --trigger "1 second"` (local[2]); sampling starts once the job has caught up, as for spark
  bridge   `simulate --transport mqtt` -> Mosquitto -> `python -m ingestion bridge` -> Tansu -> `consume-kafka`:
           the seeds' chain; source_to_broker / broker_to_processor are measured from the bridge's broker_at
Meanwhile this process polls `data_access.queries.latest_readings` (what the Live page reads) every --poll
seconds; each time a (sensor, metric) shows a newer reading, its age (poll instant - reading timestamp) is one
sample. The polling adds up to --poll seconds (half on average) to every sample: the figures are upper bounds.
Baseline from the same run: the writer's own end_to_end stage in pipeline_kpi (source timestamp -> commit), over
the sampling window.
On the page, the fragment refresh interval (5 s by default) and the 2 s query cache come on top.

Usage: .venv/bin/python -m bench.freshness [--duration 60] [--poll 0.2]
       [--paths direct,mqtt,spark,kafka,bridge,spark-kafka]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from data_access import queries
from data_access.engine import make_engine
from db import settings
from db.migrate import migrate
from ingestion.registry import sync_catalogue

DB = "bench_freshness"
ROOT = Path(__file__).resolve().parents[1]


def fresh_database(admin: str, name: str = DB) -> str:
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    url = settings.with_database(admin, name)
    migrate(url)
    with psycopg2.connect(url) as conn:
        sync_catalogue(conn)
    return url


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) >= 2 else samples[0]


def measure(url: str, duration: float, poll: float) -> list[float]:
    engine = make_engine(url)
    seen: dict[tuple[str, str], datetime] = {}
    samples: list[float] = []
    deadline = time.monotonic() + duration
    warmup = time.monotonic() + 5  # the first rows include the ingestion's start-up
    while time.monotonic() < deadline:
        frame = queries.latest_readings(engine)
        now = datetime.now(UTC)
        for row in frame.itertuples():
            key = (row.sensor_id, row.metric)
            if seen.get(key) != row.time:
                if key in seen and time.monotonic() > warmup:
                    samples.append((now - row.time).total_seconds())
                seen[key] = row.time
        time.sleep(poll)
    engine.dispose()
    return samples


def wait_caught_up(url: str, timeout: float, rate: float = 60.0) -> None:
    """Until the Spark job has caught up with the backlog written while its JVM started: a micro-batch after the
    first that held at most 3 s of the network's messages (`rate` per second). Start-up is not freshness."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM stream_batches WHERE batch_id > 0 AND received BETWEEN 1 AND %s",
                        (3 * rate,))  # fmt: skip
            if cur.fetchone()[0]:
                return
        time.sleep(0.5)
    raise SystemExit(f"the Spark job did not catch up with its start-up backlog in {timeout:.0f} s")


def stage_p95(url: str, stage: str, window_s: float) -> float | None:
    """p95 of a pipeline_kpi stage over the last `window_s` seconds: the sampling window, start-up left out."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT p95_ms FROM get_pipeline_latency_stats(make_interval(secs => %s)) WHERE stage = %s",
            (window_s, stage),
        )
        row = cur.fetchone()
    return float(row[0]) / 1000 if row else None


def spark_command(py: list[str], url: str, checkpoint: Path, *source: str) -> list[str]:
    """The Spark job with a 1 s trigger, local[2]."""
    shutil.rmtree(checkpoint, ignore_errors=True)
    return [*py, "spark", "run", *source, "--trigger", "1 second", "--checkpoint", str(checkpoint), "--database-url",
            url, "--master", "local[2]", "--conf", "spark.ui.enabled=false"]  # fmt: skip


def kafka_procs(name: str, py: list[str], env: dict, stack: ExitStack, workdir: Path) -> list[subprocess.Popen]:
    """The Kafka paths: a Tansu broker, the lite Kafka consumer or the Spark job, and the producer (direct or via
    the bridge)."""
    from tests.support.kafka import tansu  # the project's one way to start a local Kafka-protocol broker

    broker = stack.enter_context(tansu(workdir))
    kafka = ["--kafka-bootstrap", broker.bootstrap, "--kafka-topic", "sensor_data"]
    spool = workdir / f"spool-{name}-{broker.port}"
    consume = [*py, "consume-kafka", *kafka, "--group", "bench", "--spool-dir", str(spool)]
    if name == "spark-kafka":
        consume = spark_command(py, env["DATABASE_URL"], workdir / "spark-kafka-checkpoint", "--source",
                                "kafka-python", *kafka)  # fmt: skip
    procs = []
    if name in ("kafka", "spark-kafka"):
        producer = [*py, "simulate", "--transport", "kafka", *kafka, "--kafka-partitions", "3"]
    else:
        from tests.support.mosquitto import mosquitto

        port = stack.enter_context(mosquitto(workdir))
        mqtt = ["--mqtt-host", "127.0.0.1", "--mqtt-port", str(port)]
        bridge = [*py, "bridge", *mqtt, *kafka, "--kafka-partitions", "3"]
        procs.append(subprocess.Popen(bridge, env=env, stdout=subprocess.DEVNULL))
        producer = [*py, "simulate", "--transport", "mqtt", *mqtt]
    quiet = {"stderr": subprocess.DEVNULL} if name == "spark-kafka" else {}
    procs.append(subprocess.Popen(consume, env={**env, "SPARK_LOG_LEVEL": "ERROR"}, stdout=subprocess.DEVNULL, **quiet))
    procs.append(subprocess.Popen(producer, env=env, stdout=subprocess.DEVNULL))
    return procs


def run_path(name: str, url: str, duration: float, poll: float, workdir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    py = [sys.executable, "-m", "ingestion"]
    with ExitStack() as stack:
        if name == "direct":
            spool = ["--spool-dir", str(workdir / "spool-direct")]
            shutil.rmtree(workdir / "spool-direct", ignore_errors=True)
            procs = [subprocess.Popen([*py, "run", "--alerts-every", "5", *spool], env=env, stdout=subprocess.DEVNULL)]
        elif name == "spark":
            landing = workdir / "landing"
            shutil.rmtree(landing, ignore_errors=True)
            spark = spark_command(py, url, workdir / "spark-checkpoint", "--source", "files", "--path", str(landing))
            simulate = [*py, "simulate", "--transport", "files", "--directory", str(landing)]
            spark_env = {**env, "SPARK_LOG_LEVEL": "ERROR"}
            procs = [
                subprocess.Popen(spark, env=spark_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                subprocess.Popen(simulate, env=env, stdout=subprocess.DEVNULL),
            ]
            wait_caught_up(url, timeout=600)
        elif name in ("kafka", "bridge", "spark-kafka"):
            procs = kafka_procs(name, py, env, stack, workdir)
            if name == "spark-kafka":
                wait_caught_up(url, timeout=600)
        else:
            from tests.support.mosquitto import mosquitto  # the project's one way to start a local broker

            port = stack.enter_context(mosquitto(workdir))
            mqtt = ["--mqtt-host", "127.0.0.1", "--mqtt-port", str(port)]
            procs = [
                subprocess.Popen(
                    [*py, "consume", *mqtt, "--spool-dir", str(workdir / f"spool-mqtt-{port}")],
                    env=env,
                    stdout=subprocess.DEVNULL,
                ),
                subprocess.Popen([*py, "simulate", "--transport", "mqtt", *mqtt], env=env, stdout=subprocess.DEVNULL),
            ]
        try:
            samples = measure(url, duration, poll)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
    if not samples:
        print(f"{name:11s} no samples: did the ingestion start? (run it by hand to see its error)")
        return
    e2e = stage_p95(url, "end_to_end", duration)
    broker_stages = ""
    if name in ("kafka", "bridge", "mqtt", "spark-kafka"):
        broker_stages = "   p95 " + ", ".join(
            f"{stage} {value if value is None else f'{value:.3f} s'}"
            for stage in ("source_to_broker", "broker_to_processor", "processor_to_db")
            for value in [stage_p95(url, stage, duration)]
        )
    print(
        f"{name:11s} reading -> readable by the Live query: p50 {statistics.median(samples):5.2f} s   "
        f"p95 {pct(samples, 95):5.2f} s   max {max(samples):5.2f} s   (n={len(samples):,}, poll {poll} s)   "
        f"baseline pipeline_kpi end_to_end p95 {e2e if e2e is None else f'{e2e:.2f} s'}{broker_stages}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--paths", default="direct,mqtt,spark")
    args = parser.parse_args()
    if settings.is_embedded():
        from db.embedded import from_environment

        from_environment().start()
    admin = settings.with_database(settings.owner_url(), "postgres")
    workdir = ROOT / "test-output" / "bench-freshness"
    for name in args.paths.split(","):
        run_path(name, fresh_database(admin), args.duration, args.poll, workdir)


if __name__ == "__main__":
    main()
