"""Build, start and stop the Spark Structured Streaming job (also the spark-submit entry point).

    spark-submit ingestion/spark/job.py run --source files --path landing --trigger "1 second"
    python -m ingestion.spark run --source files --path landing --trigger available-now

One streaming query: source -> transforms.build -> foreachBatch(sinks.BatchSink), output mode update, its
checkpoint under --checkpoint (offsets, commits, state of the watermark/deduplication/windows). Before starting,
the checkpoint is checked; a damaged one (truncated or corrupt metadata, offsets, commits or source log) makes
the job refuse to start with a message that says which file and what to do. SIGTERM / SIGINT stop it
gracefully: the batch in flight is allowed to finish (up to --stop-timeout), then the query stops; whatever the
moment, a restart resumes from the checkpoint and the idempotent sink makes the result exactly-once.
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

log = logging.getLogger("ingestion.spark")

DEFAULT_CHECKPOINT = str(Path(__file__).resolve().parents[2] / ".data" / "spark-checkpoint")
JAVA_HOME_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64")


class CheckpointError(RuntimeError):
    """The checkpoint directory is damaged: the job must not start from it."""


@dataclass
class JobConfig:
    source: str = "files"  # files | kafka | rate
    path: str | None = None  # files: landing directory
    max_files_per_trigger: int | None = None
    kafka_bootstrap: str | None = None
    kafka_topic: str | None = None
    starting_offsets: str | None = None
    max_offsets_per_trigger: int | None = None
    rows_per_second: int = 100  # rate
    checkpoint: str = DEFAULT_CHECKPOINT
    trigger: str = "1 second"  # a processing-time interval, or "available-now"
    watermark: str = "2 minutes"
    database_url: str | None = None
    query_name: str = "madinina_spark"
    stop_timeout: float = 60.0
    spark_conf: dict[str, str] = field(default_factory=dict)


# -- session ---------------------------------------------------------------------------------------------------


def ensure_java() -> None:
    if os.environ.get("JAVA_HOME"):
        return
    for candidate in JAVA_HOME_CANDIDATES:
        if Path(candidate, "bin", "java").exists():
            os.environ["JAVA_HOME"] = candidate
            return


PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def ensure_python_workers() -> None:
    """The validation stage runs ingestion.validation in Spark's Python workers: they must be this interpreter
    (its pinned packages: pyarrow) and find this project. Both are read from the environment when the JVM starts,
    so this runs before the session is created; spark-submit and cluster settings (PYSPARK_PYTHON, --py-files)
    take precedence."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PROJECT_ROOT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([PROJECT_ROOT, *paths])


def session(
    master: str | None = None, *, app_name: str = "madinina-spark", conf: dict[str, str] | None = None, ui: bool = True
):
    """A SparkSession with the job's settings. Under spark-submit the master comes from spark-submit."""
    ensure_java()
    ensure_python_workers()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.streaming.stopTimeout": "60s",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark


def local_session(cores: int = 2):
    """The session of the tests and the benchmark: local[cores], 2 shuffle partitions, no UI."""
    return session(
        f"local[{cores}]",
        app_name="madinina-spark-local",
        ui=False,
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": str(cores)},
    )


# -- checkpoint checks -----------------------------------------------------------------------------------------


def _batch_files(directory: Path) -> dict[int, Path]:
    files = {}
    if directory.is_dir():
        for entry in directory.iterdir():
            name = entry.name
            if name.startswith(".") or name.endswith(".crc") or name.endswith(".tmp"):
                continue
            stem = name[: -len(".compact")] if name.endswith(".compact") else name
            if not stem.isdigit():
                raise CheckpointError(f"unexpected file {entry} in the checkpoint's {directory.name}/ log")
            files[int(stem)] = entry
    return files


def _log_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read ({exc})") from None
    lines = text.split("\n")
    if not lines or not lines[0].startswith("v") or not lines[0][1:].isdigit():
        raise CheckpointError(f"{path} does not start with a log version line (truncated or overwritten)")
    return lines


def _json(path: Path, line: str, what: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({exc.msg}; truncated or corrupt)") from None


def check_checkpoint(checkpoint: str) -> dict:
    """Raise CheckpointError if the checkpoint cannot be resumed safely; returns a summary otherwise.

    Checks the files Spark reads to resume: `metadata` (query id), the offset log (every retained entry: version
    line, batch metadata with the watermark, one offset per source), the commit log (version line, JSON) and the
    file source's log; the last committed batch must be the last planned one or the one before it. A missing or
    empty directory is a fresh start. Remote checkpoints (hdfs://, s3a://) are left to Spark's own checks."""
    if "://" in checkpoint and not checkpoint.startswith("file://"):
        return {"checked": False, "reason": "remote checkpoint: not checked here"}
    root = Path(checkpoint.removeprefix("file://"))
    if not root.exists() or not any(root.iterdir()):
        return {"checked": True, "fresh": True}
    metadata = root / "metadata"
    if not metadata.exists():
        raise CheckpointError(f"{root} holds files but no 'metadata': not a checkpoint of this job, or damaged")
    meta = _json(metadata, metadata.read_text(encoding="utf-8", errors="replace").split("\n")[0], "metadata")
    if not isinstance(meta, dict) or "id" not in meta:
        raise CheckpointError(f"{metadata} has no query id")
    offsets = _batch_files(root / "offsets")
    commits = _batch_files(root / "commits")
    for _, path in sorted(offsets.items()):
        lines = [line for line in _log_lines(path)[1:] if line]
        if not lines:
            raise CheckpointError(f"{path}: offset log entry without batch metadata (truncated)")
        info = _json(path, lines[0], "batch metadata")
        if not isinstance(info, dict) or "batchWatermarkMs" not in info:
            raise CheckpointError(f"{path}: batch metadata without a watermark")
        if len(lines) < 2:
            raise CheckpointError(f"{path}: offset log entry without source offsets (truncated)")
        for line in lines[1:]:
            if line != "-":
                _json(path, line, "a source offset")
    for _, path in sorted(commits.items()):
        lines = [line for line in _log_lines(path)[1:] if line]
        if not lines:
            raise CheckpointError(f"{path}: commit log entry is truncated")
        _json(path, lines[0], "commit metadata")
    orphans = sorted(set(commits) - set(offsets))
    if orphans:  # Spark purges both logs together: a commit without its offsets entry means a lost file
        raise CheckpointError(f"{root}: batch {orphans[0]} is committed but offsets/{orphans[0]} is missing")
    last_offset = max(offsets) if offsets else None
    last_commit = max(commits) if commits else None
    if last_commit is not None and (last_offset is None or last_commit > last_offset):
        raise CheckpointError(f"{root}: batch {last_commit} is committed but was never planned (offsets/ damaged)")
    if last_offset is not None and last_commit is not None and last_commit < last_offset - 1:
        raise CheckpointError(
            f"{root}: batches {last_commit + 1}..{last_offset} planned but only one may be in flight (commits/ damaged)"
        )
    if last_offset is not None:
        expected = set(range(min(offsets), last_offset + 1))
        if set(offsets) != expected:
            raise CheckpointError(f"{root}: gap in offsets/ ({sorted(expected - set(offsets))[:5]} missing)")
    sources = root / "sources"
    if sources.is_dir():
        for source_dir in sources.iterdir():
            if not source_dir.is_dir():
                continue
            for _, path in sorted(_batch_files(source_dir).items()):
                for line in _log_lines(path)[1:]:
                    if line:
                        _json(path, line, "a source log line")
    if last_commit is not None and not (root / "state").is_dir():
        raise CheckpointError(f"{root}: batches are committed but the state/ directory is missing")
    return {
        "checked": True,
        "fresh": False,
        "query_id": meta["id"],
        "last_planned": last_offset,
        "last_committed": last_commit,
    }


def damaged_message(checkpoint: str, error: Exception) -> str:
    return (
        f"error: the checkpoint {checkpoint} is damaged, the job will not start from it.\n"
        f"  {error}\n"
        "  Restore the directory from a backup, or start over with a new --checkpoint directory: a new checkpoint "
        "reprocesses the source from the beginning (files) or from --starting-offsets (Kafka); the sink's "
        "writes are idempotent, so the database gets no duplicates, but windows are rebuilt only from what the "
        "source still holds."
    )


# -- the query ---------------------------------------------------------------------------------------------------


def source_frame(spark, config: JobConfig):
    from ingestion.spark import sources

    if config.source == "files":
        if not config.path:
            raise ValueError("--path is required with --source files")
        Path(config.path).mkdir(parents=True, exist_ok=True)
        return sources.files_source(spark, config.path, max_files_per_trigger=config.max_files_per_trigger)
    if config.source == "kafka":
        kafka = sources.KafkaConfig.from_env(
            bootstrap_servers=config.kafka_bootstrap,
            topic=config.kafka_topic,
            starting_offsets=config.starting_offsets,
            max_offsets_per_trigger=config.max_offsets_per_trigger,
        )
        return sources.kafka_source(spark, kafka)
    if config.source == "rate":
        return sources.rate_source(spark, rows_per_second=config.rows_per_second)
    raise ValueError(f"unknown source {config.source!r} (files, kafka, rate)")


def writer_dsn(config: JobConfig) -> str:
    if config.database_url:
        return config.database_url
    from db import settings

    return settings.database_url("writer")


def sync_catalogue(dsn: str):
    """Sensors and metrics of ingestion/catalogue.py into their tables (an upsert: an operator's additions and
    deactivations stay), then the catalogue as the database has it, which the validation starts from."""
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


def start(spark, config: JobConfig, *, sink=None):
    """Check the checkpoint and the database, write the code catalogue into it, then start the query. Returns
    (query, sink)."""
    from ingestion.spark import sinks, transforms

    check_checkpoint(config.checkpoint)
    dsn = writer_dsn(config)
    sinks.ensure_schema(dsn)
    catalogue = sync_catalogue(dsn)
    sink = sink or sinks.BatchSink(dsn, config.checkpoint, spark=spark)
    # Each task re-reads the catalogue from the database (a sensor added while the job runs is accepted from the
    # next micro-batch on); the one read here is its fallback while the database does not answer.
    frame = transforms.build(
        source_frame(spark, config), catalogue=catalogue, catalogue_dsn=dsn, watermark=config.watermark
    )
    writer = (
        frame.writeStream.queryName(config.query_name)
        .outputMode("update")
        .option("checkpointLocation", config.checkpoint)
        .foreachBatch(sink)
    )
    if config.trigger.replace("_", "-").lower() in ("available-now", "availablenow"):
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=config.trigger)
    return writer.start(), sink


def run_until_done(spark, config: JobConfig, *, timeout: float | None = None):
    """Start the query and wait for its end (an available-now run: what the source holds, then stop), or for
    `timeout` seconds. Returns (query, totals of the sink); the caller checks query.exception()."""
    query, sink = start(spark, config)
    try:
        if timeout is None:
            query.awaitTermination()
        else:
            query.awaitTermination(timeout)
    finally:
        sink.close()
    return query, sink.totals


def stop_gracefully(query, timeout: float, sink=None) -> None:
    """Let the micro-batch being written finish (up to `timeout` s), then stop the query.

    With a sink (BatchSink), batches that start after the request are refused before they write anything (the
    query then ends on StopRequested; they run at the next start), so the stop never cuts a batch's writes.
    Whatever happens, a restart from the checkpoint is exactly-once: the sink is idempotent on the batch id."""
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
    query, sink = start(spark, config)
    print(
        f"spark: query {config.query_name} started (source {config.source}, trigger {config.trigger}, watermark "
        f"{config.watermark}, checkpoint {config.checkpoint})",
        flush=True,
    )
    try:
        while query.isActive:
            if stop.is_set():
                print("spark: stop requested, finishing the batch in flight", flush=True)
                stop_gracefully(query, config.stop_timeout, sink)
                break
            query.awaitTermination(0.5)
        error = query.exception()
        if stopped_by_request(sink, error):
            error = None
    finally:
        sink.close()
    t = sink.totals
    print(
        f"spark: stopped cleanly after {t.batches} batches ({t.skipped} replayed): received {t.received:,} = "
        f"stored {t.stored:,} + duplicates {t.duplicates:,} + quarantined {t.quarantined:,}; "
        f"late_dropped {t.late_dropped:,}; {t.windows:,} window upserts",
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
        "(raw + sensor_latest + pipeline_kpi, windows, quarantine). Same as "
        "`spark-submit ingestion/spark/job.py ...`. See docs/spark.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="run the streaming job until SIGTERM/SIGINT (or the input is done)")
    run_p.add_argument("--source", choices=["files", "kafka", "rate"], default="files")
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
    run_p.add_argument("--watermark", default="2 minutes", help="event-time watermark delay (default 2 minutes)")
    run_p.add_argument("--database-url", default=None, help="writer connection (default: as python -m ingestion)")
    run_p.add_argument("--master", default=None, help="Spark master when not under spark-submit (default local[*])")
    run_p.add_argument("--shuffle-partitions", type=int, default=None, help="spark.sql.shuffle.partitions")
    run_p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
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
    conf = dict(item.split("=", 1) for item in args.conf)
    if args.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(args.shuffle_partitions)
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
        watermark=args.watermark,
        database_url=args.database_url,
        stop_timeout=args.stop_timeout,
        spark_conf=conf,
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
