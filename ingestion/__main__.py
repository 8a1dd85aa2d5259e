"""python -m ingestion — the companion ingestion service of Madinina Monitor.

  run        simulator -> lite processor -> database in one process (the embedded default), with a
             background backfill of recent history and the alerts engine every few seconds
  simulate   publish simulated messages to a transport: mqtt (Mosquitto), files (JSON-lines for Spark),
             kafka (needs a broker), direct (in-process, straight to the database)
  consume    lite consumer: read a transport (mqtt), validate, write, evaluate alerts
  backfill   write N days of simulated history quickly (no JSON, straight to the writer), with progress
  status     spool depth, oldest unsent reading, consumer heartbeats (works while the database is down)
  reconcile  totals of the durable ledger: received, stored, duplicates, quarantined by reason
  sensors    the sensor catalogue in the database: list | add | deactivate | activate
  archive    copy the database to InfluxDB (`archive influx`) or a Delta Lake medallion (`archive delta`)
  spark      the scale-out processor (Spark Structured Streaming): `python -m ingestion spark run --help`;
             the same as `python -m ingestion.spark ...` and `spark-submit ingestion/spark/job.py ...`

`run` and `consume` put every message in a durable local spool before anything else (before the MQTT
acknowledgement), drain it in order into the database, and wait out a database outage of any length. Every
command stops cleanly on Ctrl-C / SIGTERM: what is not yet in the database stays in the spool for the next start.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

import psycopg2

from ingestion.archive.cli import add_archive_parsers, add_run_archive_args, start_run_archivers
from ingestion.cli_common import AlertsTicker, Stop, parse_duration, report_line, sync_catalogue_at_start
from ingestion.kafka_consumer import add_kafka_parsers
from ingestion.metrics import add_metrics_args, serve_metrics
from ingestion.ops import add_ops_parsers, add_spool_args, open_ingest, writer_dsn
from ingestion.transports.mqtt import add_mqtt_args

log = logging.getLogger("ingestion")


def _faults(args):
    from ingestion.simulator import FaultConfig

    return FaultConfig(
        stuck_rate=args.stuck_rate,
        dropout_rate=args.dropout_rate,
        spike_rate=args.spike_rate,
        battery_drain=args.battery_drain,
        late_rate=args.late_rate,
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
    )


def _backfill(args, stop: Stop, label="backfill") -> None:
    from ingestion.backfill import Backfill

    # Under `run` a database outage is waited out, like the live path; alone it fails after retries.
    retries = None if label != "backfill" else 5
    job = Backfill(
        writer_dsn(args),
        span_s=parse_duration(args.span),
        step_s=args.step,
        seed=args.seed,
        stop=stop.event,
        retries=retries,
        out=lambda line: print(line.replace("backfill", label, 1), flush=True),
    )
    result = job.run()
    print(
        f"{label} {result.state}: {result.readings:,} readings in {result.seconds:.1f}s "
        f"({result.readings / max(result.seconds, 1e-9):,.0f} readings/s), {result.stored:,} new, "
        f"{result.fast_chunks} chunks written directly, {result.merged_chunks} merged, "
        f"{result.alerts:,} historic alerts",
        flush=True,
    )


def cmd_backfill(args) -> int:
    from ingestion.backfill_plan import lower_priority

    stop = Stop()
    lower_priority()  # a process of its own (scripts/run.sh): it yields the CPU to the live ingestion
    sync_catalogue_at_start(args)
    _backfill(args, stop)
    return 0


def cmd_run(args) -> int:
    from ingestion.simulator import Simulator

    stop = Stop()
    dsn = writer_dsn(args)
    # A tick's messages arrive together: a short batching delay is enough (fewer waits, fresher Live page).
    ingest = open_ingest(
        args,
        dsn=dsn,
        name="run",
        source="direct",
        stop=stop.event,
        max_delay_s=0.2,
        setup=lambda: sync_catalogue_at_start(args, stop),
    )
    serve_metrics(args, ingest)
    sim = Simulator(seed=args.seed, faults=_faults(args), fmt=args.format)
    alerts = AlertsTicker(dsn, args.alerts_every)
    if args.backfill:
        # History fills in the background so that live numbers show up at once.
        backfill_args = argparse.Namespace(**vars(args), span=args.backfill, step=args.backfill_step)
        threading.Thread(
            target=_backfill, args=(backfill_args, stop, "backfill (background)"), name="backfill", daemon=True
        ).start()
    start_run_archivers(args, dsn, stop.event)
    ingest.start()
    period = 1.0 / args.rate
    next_tick = time.time()
    last_report = time.monotonic()
    held: list[tuple[bytes, float, str]] = []  # generated while the spool was full: offered again, never dropped
    generated = 0
    print(
        f"live: simulator -> spool -> lite processor -> database, a tick every {period:g}s (Ctrl-C to stop)", flush=True
    )
    while not stop:
        now = time.time()
        if held:  # backpressure: the simulator waits for the spool instead of generating more
            del held[: ingest.offer(held)]
            stop.event.wait(0.2 if held else 0)
            next_tick = max(next_tick, time.time())
            continue
        if now < next_tick:
            stop.event.wait(min(next_tick - now, 0.2))
            continue
        held = [(message, time.time(), "direct") for message in sim.tick(next_tick)]
        generated += len(held)
        del held[: ingest.offer(held)]
        alerts.maybe_run()
        next_tick += period
        if next_tick < time.time() - 5 * period:  # fell far behind (busy machine): skip ahead, no spiral
            next_tick = time.time()
        if time.monotonic() - last_report >= args.report_every:
            print(report_line(ingest, "live"), flush=True)
            last_report = time.monotonic()
    ingest.join(30)
    ingest.finish()
    alerts.close()
    print(f"simulator: {generated:,} messages generated, {generated - len(held):,} spooled", flush=True)
    print(report_line(ingest, "stopped cleanly"), flush=True)
    return 0


def cmd_simulate(args) -> int:
    from ingestion.simulator import Simulator

    stop = Stop()
    sim = Simulator(seed=args.seed, faults=_faults(args), fmt=args.format)
    if args.transport == "mqtt":
        from ingestion.transports.mqtt import MqttPublisher, mqtt_config

        sink = MqttPublisher(mqtt_config(args), mqtt5=args.mqtt5)

        def close():
            sink.close()
            if sink.refused:  # never silently: the broker acknowledged these without delivering them
                print(f"simulate: {sink.refused:,} messages refused by the MQTT broker (see the log)", flush=True)

        send = lambda batch: [sink.publish(m) for m in batch]  # noqa: E731
    elif args.transport == "files":
        from ingestion.transports.files import FilesSink

        files = FilesSink(args.directory)
        send, close = files.write_batch, (lambda: None)
    elif args.transport == "kafka":
        from ingestion.kafka_producer import KafkaSink  # needs a broker: docs/kafka.md

        kafka = KafkaSink.from_env(
            bootstrap=args.kafka_bootstrap, topic=args.kafka_topic, partitions=args.kafka_partitions
        )
        send, close = kafka.send_batch, kafka.close_and_report
    else:
        from ingestion.processor import LiteProcessor
        from ingestion.validation import Validator
        from ingestion.writer import Writer

        sync_catalogue_at_start(args)
        writer = Writer(writer_dsn(args))
        processor = LiteProcessor(writer, Validator(source="direct"))

        def send(batch):
            for message in batch:
                processor.submit(message)
            processor.flush()

        def close():
            processor.flush()
            writer.close()

    t = time.time() if args.start is None else args.start
    real_time = args.start is None
    ticks = sent = 0
    started = time.monotonic()
    try:
        while (
            not stop
            and (args.ticks is None or ticks < args.ticks)
            and (args.duration is None or time.monotonic() - started < args.duration)
        ):
            batch = sim.tick(t)
            send(batch)
            sent += len(batch)
            ticks += 1
            t += 1.0 / args.rate
            if real_time:
                stop.event.wait(max(0.0, t - time.time()))
            if ticks % max(1, int(args.rate * 10)) == 0:
                print(
                    f"simulate: {ticks:,} ticks, {sent:,} messages, "
                    f"{sent / max(time.monotonic() - started, 1e-9):,.0f} msg/s",
                    flush=True,
                )
    finally:
        close()
    print(f"simulate done: {ticks:,} ticks, {sent:,} messages sent to {args.transport}", flush=True)
    return 0


def cmd_consume(args) -> int:
    from ingestion.transports.mqtt import MqttConsumer, mqtt_config

    stop = Stop()
    dsn = writer_dsn(args)
    # The code catalogue is synced by the drain thread once the database answers: the broker is drained into
    # the spool meanwhile, whatever the database does.
    ingest = open_ingest(
        args,
        dsn=dsn,
        name=args.client_id,
        source="mqtt",
        stop=stop.event,
        max_delay_s=args.max_delay,
        setup=lambda: sync_catalogue_at_start(args, stop),
    )
    serve_metrics(args, ingest)
    alerts = AlertsTicker(dsn, args.alerts_every)
    consumer = MqttConsumer(mqtt_config(args, client_id=args.client_id), ingest)
    ingest.start()  # the drain waits for the database on its own; the broker is drained into the spool meanwhile
    consumer.start()
    print(
        f"consume: mqtt {args.mqtt_host}:{args.mqtt_port} as {args.client_id} (persistent session), "
        f"spool {ingest.spool.directory}",
        flush=True,
    )
    last_report = time.monotonic()
    while not stop:
        consumer.poll(0.2)
        if consumer.held:  # spool full or unwritable: the broker keeps the rest; do not spin
            stop.event.wait(0.2)
        alerts.maybe_run()
        if time.monotonic() - last_report >= args.report_every:
            print(report_line(ingest, "consume"), flush=True)
            last_report = time.monotonic()
    consumer.stop()
    ingest.join(30)
    ingest.finish()
    alerts.close()
    print(report_line(ingest, "stopped cleanly"), flush=True)
    return 0


def cmd_spark(args) -> int:
    """Thin: hand the rest of the command line to the Spark job's own CLI (ingestion/spark/job.py)."""
    from ingestion.spark.job import main as spark_main

    rest = list(args.spark_args)
    if args.database_url and rest[:1] == ["run"] and "--database-url" not in rest:
        rest += ["--database-url", args.database_url]
    return spark_main(rest or ["--help"])


def _add_fault_args(parser) -> None:
    group = parser.add_argument_group("simulator faults (rates are probabilities per sensor and tick)")
    for name, default, text in (
        ("stuck-rate", 0.0, "a sensor's value freezes"),
        ("dropout-rate", 0.0, "a sensor goes silent"),
        ("spike-rate", 0.0, "a spike value"),
        ("late-rate", 0.0, "late, out-of-order message"),
        ("duplicate-rate", 0.0, "message sent twice"),
        ("malformed-rate", 0.0, "malformed message"),
        ("battery-drain", 1.0, "battery discharge multiplier"),
    ):
        group.add_argument(f"--{name}", type=float, default=default, help=f"{text} (default {default:g})")
    parser.add_argument(
        "--format",
        choices=["multi", "single", "ngsi"],
        default="multi",
        help="message shape (DESIGN.md §3); default multi = one record per sensor and tick",
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="ticks per second; each tick = one message per sensor (default 1)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="writer connection (default: WRITER_DATABASE_URL, "
        "DATABASE_URL with the writer role, or the embedded default)",
    )
    parser.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate + process + write, live, with background backfill")
    _add_fault_args(run)
    run.add_argument("--backfill", metavar="SPAN", help="also write this much history in the background, e.g. 7d")
    run.add_argument("--backfill-step", type=float, default=60.0, help="seconds between backfilled readings")
    run.add_argument("--alerts-every", type=float, default=5.0, help="seconds between alert evaluations (0=off)")
    run.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    add_spool_args(run)
    add_metrics_args(run)
    add_run_archive_args(run)
    run.set_defaults(func=cmd_run)

    simulate = sub.add_parser("simulate", help="publish simulated messages to a transport")
    _add_fault_args(simulate)
    simulate.add_argument("--transport", choices=["mqtt", "files", "kafka", "direct"], default="mqtt")
    add_mqtt_args(simulate)
    simulate.add_argument(
        "--mqtt5", action="store_true", help="publish in MQTT 5: messages the broker refuses (ACL) are counted"
    )
    simulate.add_argument("--directory", default="landing", help="files transport: landing directory")
    simulate.add_argument("--kafka-bootstrap", default=None, help="kafka transport: bootstrap servers")
    simulate.add_argument("--kafka-topic", default="sensor_data")
    simulate.add_argument(
        "--kafka-partitions", type=int, default=None, help="kafka transport: create the topic with this many partitions"
    )
    simulate.add_argument("--ticks", type=int, default=None, help="stop after this many ticks")
    simulate.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    simulate.add_argument(
        "--start", type=float, default=None, help="simulated start instant (epoch s): then ticks go as fast as possible"
    )
    simulate.set_defaults(func=cmd_simulate)

    consume = sub.add_parser("consume", help="lite consumer: MQTT -> validation -> database")
    add_mqtt_args(consume)
    consume.add_argument("--client-id", default="madinina-consumer", help="fixed id = persistent session")
    consume.add_argument("--max-delay", type=float, default=0.5, help="seconds a reading may wait in a batch")
    consume.add_argument("--alerts-every", type=float, default=5.0)
    consume.add_argument("--report-every", type=float, default=10.0)
    add_spool_args(consume)
    add_metrics_args(consume)
    consume.set_defaults(func=cmd_consume)

    backfill = sub.add_parser("backfill", help="write simulated history quickly")
    backfill.add_argument("span", help="how much history, e.g. 7d, 12h")
    backfill.add_argument("--step", type=float, default=60.0, help="seconds between readings (default 60)")
    backfill.set_defaults(func=cmd_backfill)

    add_ops_parsers(sub)
    add_kafka_parsers(sub)
    add_archive_parsers(sub)

    spark = sub.add_parser(
        "spark", add_help=False, help="Spark Structured Streaming job (needs Java 17): spark run|check-checkpoint ..."
    )
    spark.add_argument("spark_args", nargs=argparse.REMAINDER)
    spark.set_defaults(func=cmd_spark)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "spark":  # `spark --help` etc.: options before the Spark command go to the job's CLI too
        args.spark_args = extra + args.spark_args
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except (psycopg2.Error, ValueError, ConnectionError, OSError) as exc:
        print(f"error: {exc}".strip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
