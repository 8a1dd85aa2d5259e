"""Start and stop the Spark Structured Streaming job (also the spark-submit entry point).

    spark-submit ingestion/spark/job.py run --source files --path landing --trigger "1 second"
    python -m ingestion.spark run --source files --path landing --trigger available-now

One stateless streaming query: source (sources.py) -> foreachBatch(sinks.BatchSink), whose executors validate
and commit their partitions (partition.py); its checkpoint under --checkpoint holds the source's offsets and the
commit log, nothing else. Before starting, the checkpoint is checked (checkpoint.py); a damaged one makes the job
refuse to start with a message that says which file and what to do. SIGTERM / SIGINT stop it gracefully: the
micro-batch in flight is allowed to finish (up to --stop-timeout), then the query stops; whatever the moment, a
restart resumes from the checkpoint and the idempotent commits make the result exactly-once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ingestion.spark.checkpoint import CheckpointError, check_checkpoint, damaged_message  # noqa: E402
from ingestion.spark.session import ensure_java, local_session, session  # noqa: E402, F401 - the job's session

log = logging.getLogger("ingestion.spark")

DEFAULT_CHECKPOINT = str(Path(__file__).resolve().parents[2] / ".data" / "spark-checkpoint")


@dataclass
class JobConfig:
    source: str = "files"  # files | kafka | kafka-python | rate
    path: str | None = None  # files: landing directory
    max_files_per_trigger: int | None = None
    kafka_bootstrap: str | None = None
    kafka_topic: str | None = None
    starting_offsets: str | None = None
    max_offsets_per_trigger: int | None = None
    rows_per_second: int = 100  # rate
    checkpoint: str = DEFAULT_CHECKPOINT
    trigger: str = "1 second"  # a processing-time interval, or "available-now"
    database_url: str | None = None
    query_name: str = "madinina_spark"
    stop_timeout: float = 60.0
    fast_path: bool = True  # the tasks' columnar validation of canonical messages (fastpath.py)
    spark_conf: dict[str, str] = field(default_factory=dict)


# -- the query ---------------------------------------------------------------------------------------------------


def source_frame(spark, config: JobConfig):
    from ingestion.spark import sources

    if config.source == "files":
        if not config.path:
            raise ValueError("--path is required with --source files")
        Path(config.path).mkdir(parents=True, exist_ok=True)
        return sources.files_source(spark, config.path, max_files_per_trigger=config.max_files_per_trigger)
    if config.source in ("kafka", "kafka-python"):
        kafka = sources.KafkaConfig.from_env(
            bootstrap_servers=config.kafka_bootstrap,
            topic=config.kafka_topic,
            starting_offsets=config.starting_offsets,
            max_offsets_per_trigger=config.max_offsets_per_trigger,
        )
        if config.source == "kafka":
            return sources.kafka_source(spark, kafka)
        return sources.kafka_python_source(spark, kafka)
    if config.source == "rate":
        return sources.rate_source(spark, rows_per_second=config.rows_per_second)
    raise ValueError(f"unknown source {config.source!r} (files, kafka, kafka-python, rate)")


def writer_dsn(config: JobConfig) -> str:
    if config.database_url:
        return config.database_url
    from db import settings

    return settings.database_url("writer")


def sync_catalogue(dsn: str):
    """Sensors and metrics of ingestion/catalogue.py into their tables (an upsert: an operator's additions and
    deactivations stay), then the catalogue as the database has it: the executors' fallback while the database
    does not answer (each task reads the database's own, partition.py)."""
    import psycopg2

    from ingestion.registry import sync_catalogue as sync
    from ingestion.validation import Catalogue

    conn = psycopg2.connect(dsn)
    try:
        metrics, sensors = sync(conn)
        catalogue = Catalogue.from_db(conn)
    finally:
        conn.close()
    print(f"catalogue: {sensors} sensors, {metrics} metrics", flush=True)
    return catalogue


def start(spark, config: JobConfig):
    """Check the checkpoint and the database, write the code catalogue into it, then start the query. Returns
    (query, sink)."""
    from ingestion.spark import sinks

    check_checkpoint(config.checkpoint)
    dsn = writer_dsn(config)
    sinks.ensure_schema(dsn)
    sink = sinks.BatchSink(dsn, sync_catalogue(dsn), fast=config.fast_path)
    writer = (
        source_frame(spark, config)
        .writeStream.queryName(config.query_name)
        .option("checkpointLocation", config.checkpoint)
        .foreachBatch(sink)
    )
    if config.trigger.replace("_", "-").lower() in ("available-now", "availablenow"):
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=config.trigger)
    query = writer.start()
    sink.bind(query.id)
    return query, sink


def await_termination(query, timeout: float | None) -> None:
    """query.awaitTermination, which raises the query's exception when it failed: the callers read it from
    query.exception() instead."""
    from pyspark.errors import StreamingQueryException

    try:
        query.awaitTermination(timeout)
    except StreamingQueryException:
        pass


STARTS = 3  # attempts of a query whose Python source worker did not connect back in time


def failed_to_start(query, sink) -> bool:
    """True when the query ended before its first micro-batch because a Python worker did not connect back to
    the JVM in time. Spark gives a new Python worker 10 s, hard-coded, to connect (PythonWorkerFactory): on a host
    loaded far beyond its cores (measured here at load average 29 on 2 cores) the Python data source's worker
    (kafka-python) can miss it. Nothing was read or written then, so the query is simply started again."""
    error = query.exception()
    started = sink.totals.batches or sink.totals.skipped
    return error is not None and not started and "failed to connect back" in str(error)


def run_until_done(spark, config: JobConfig, *, timeout: float | None = None):
    """Start the query and wait for its end (an available-now run: what the source holds, then stop), or for
    `timeout` seconds. Returns (query, totals of the sink); the caller checks query.exception()."""
    for attempt in range(1, STARTS + 1):
        query, sink = start(spark, config)
        try:
            await_termination(query, timeout)
        finally:
            sink.close()
        if attempt == STARTS or not failed_to_start(query, sink):
            return query, sink.totals
        log.warning("the query's Python worker did not start in time (attempt %d): starting it again", attempt)
    raise AssertionError("unreachable")


def stop_gracefully(query, timeout: float, sink=None) -> None:
    """Let the micro-batch being written finish (up to `timeout` s), then stop the query.

    With a sink (BatchSink), micro-batches that start after the request are refused before they write anything
    (the query then ends on StopRequested; they run at the next start), so the stop never cuts a micro-batch's
    writes. Whatever happens, a restart from the checkpoint is exactly-once (sinks.py)."""
    deadline = time.monotonic() + timeout
    if sink is not None:
        sink.request_stop(timeout)
    # Give Spark a moment to commit the batch just written (or to end on the refused one).
    settle = min(deadline, time.monotonic() + 10.0)
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < settle:
        time.sleep(0.05)
    query.stop()


def stopped_by_request(sink, error) -> bool:
    """True when the query ended because the sink refused a batch after a stop request (a clean stop)."""
    return error is not None and sink is not None and sink.stopping and sink.refused


def run(config: JobConfig, *, spark=None, master: str | None = None, install_signals: bool = True) -> int:
    """Start the job and wait for it: until SIGTERM/SIGINT, or the end of an available-now run."""
    try:
        check_checkpoint(config.checkpoint)
    except CheckpointError as exc:
        print(damaged_message(config.checkpoint, exc), file=sys.stderr, flush=True)
        return 2
    spark = spark or session(master, conf=config.spark_conf)
    stop = threading.Event()
    if install_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    for attempt in range(1, STARTS + 1):
        query, sink = start(spark, config)
        print(
            f"spark: query {config.query_name} started (source {config.source}, trigger {config.trigger}, "
            f"checkpoint {config.checkpoint})",
            flush=True,
        )
        try:
            while query.isActive:
                if stop.is_set():
                    print("spark: stop requested, finishing the micro-batch in flight", flush=True)
                    stop_gracefully(query, config.stop_timeout, sink)
                    break
                await_termination(query, 0.5)
            error = query.exception()
            if stopped_by_request(sink, error):
                error = None
        finally:
            sink.close()
        if attempt == STARTS or stop.is_set() or not failed_to_start(query, sink):
            break
        print(f"spark: the query's Python worker did not start in time (attempt {attempt}): starting again", flush=True)
    t = sink.totals
    print(
        f"spark: stopped cleanly after {t.batches} micro-batches ({t.skipped} replayed): {t.line()}",
        flush=True,
    )
    if error is not None:
        print(f"error: the query failed: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


# -- CLI -------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion.spark",
        description="Madinina Monitor scale-out processor: Spark Structured Streaming -> PostgreSQL "
        "(raw + sensor_latest + windows + pipeline_kpi, quarantine, ingest_ledger). Same as "
        "`spark-submit ingestion/spark/job.py ...`. See docs/spark.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="run the streaming job until SIGTERM/SIGINT (or the input is done)")
    run_p.add_argument("--source", choices=["files", "kafka", "kafka-python", "rate"], default="files",
                       help="kafka: Spark's connector (needs its jar); kafka-python: the same over confluent-kafka")  # fmt: skip
    run_p.add_argument("--path", default="landing", help="files: directory of JSON-lines files (default landing)")
    run_p.add_argument("--max-files-per-trigger", type=int, default=None, help="files: files per micro-batch")
    run_p.add_argument("--kafka-bootstrap", default=None, help="kafka: bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS)")
    run_p.add_argument("--kafka-topic", default=None, help="kafka: topic (env KAFKA_TOPIC, default sensor_data)")
    run_p.add_argument("--starting-offsets", default=None, help="kafka: earliest | latest | JSON (first start only)")
    run_p.add_argument("--max-offsets-per-trigger", type=int, default=None, help="kafka: records per micro-batch")
    run_p.add_argument("--rows-per-second", type=int, default=100, help="rate: synthetic messages per second")
    run_p.add_argument("--checkpoint", default=os.environ.get("SPARK_CHECKPOINT", DEFAULT_CHECKPOINT))
    run_p.add_argument(
        "--trigger",
        default="1 second",
        help="processing-time interval ('1 second', '10 seconds') or 'available-now' (process what is there, stop)",
    )
    run_p.add_argument("--database-url", default=None, help="writer connection (default: as python -m ingestion)")
    run_p.add_argument("--master", default=None, help="Spark master when not under spark-submit (default local[*])")
    run_p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    run_p.add_argument("--no-fast-path", action="store_true",
                       help="validate every message one by one (LiteProcessor.build), as the lite processor does")  # fmt: skip
    run_p.add_argument("--stop-timeout", type=float, default=60.0, help="seconds a stop waits for the batch in flight")

    check = sub.add_parser("check-checkpoint", help="check a checkpoint directory; exit 2 if it is damaged")
    check.add_argument("checkpoint", nargs="?", default=os.environ.get("SPARK_CHECKPOINT", DEFAULT_CHECKPOINT))

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    if args.command == "check-checkpoint":
        try:
            summary = check_checkpoint(args.checkpoint)
        except CheckpointError as exc:
            print(damaged_message(args.checkpoint, exc), file=sys.stderr)
            return 2
        print(json.dumps(summary))
        return 0
    config = JobConfig(
        source=args.source,
        path=args.path,
        max_files_per_trigger=args.max_files_per_trigger,
        kafka_bootstrap=args.kafka_bootstrap,
        kafka_topic=args.kafka_topic,
        starting_offsets=args.starting_offsets,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        rows_per_second=args.rows_per_second,
        checkpoint=args.checkpoint,
        trigger=args.trigger,
        database_url=args.database_url,
        stop_timeout=args.stop_timeout,
        fast_path=not args.no_fast_path,
        spark_conf=dict(item.split("=", 1) for item in args.conf),
    )
    import psycopg2

    from ingestion.spark.sinks import SchemaMissing

    # Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT) and the master comes from spark-submit.
    submitted = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))
    master = args.master or (None if submitted else "local[*]")
    try:
        return run(config, master=master)
    except (SchemaMissing, psycopg2.Error, ValueError, OSError) as exc:
        print(f"error: {exc}".strip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
