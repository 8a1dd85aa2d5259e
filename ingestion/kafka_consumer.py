"""The lite processor's Kafka consumer: a consumer group member that feeds the same durable spool -> processor ->
database chain as the MQTT consumer (ingestion/service.py), and commits a partition's offset only after the
database commit of the batch that holds the message (docs/kafka.md).

At-least-once + idempotent sink = each reading stored once:
- a message is offered to the spool with its (topic, partition, offset) in the entry's `meta`; the drain calls
  back after each database commit (SpooledIngest.on_commit) and only then does the offset become committable;
- offsets are committed by this consumer's own thread (librdkafka's consumer is not shared across threads here),
  synchronously, only for partitions it owns, never backwards;
- each assignment of a partition opens an *epoch* (a token in the entries' meta). Only entries of the current
  epoch advance the offset: within an epoch the spool holds a partition's messages contiguously from the
  position the group gave us, so "offset N is in the database" implies every earlier one of that epoch is too.
  Entries left in the spool by a killed process or a revoked assignment are still written (idempotently), they
  just move no offset — the group re-reads from its committed offset, which is the safe side;
- on revoke (rebalance), it waits (bounded) for the drain to commit what it took from those partitions, commits
  their offsets, and drops what the spool did not take; on lost, it drops without committing;
- the spool full: the partitions are paused (no message is dropped, the broker keeps them) and resumed when it
  takes messages again; polling continues meanwhile, so the member stays in the group.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module to register its parser: keep that cheap
    from ingestion.service import SpooledIngest
    from ingestion.spool import Entry

log = logging.getLogger(__name__)

DEFAULT_GROUP = "madinina-lite"
# librdkafka settings of the consumer (overridable through `config`). Offsets are ours to commit: auto commit and
# auto offset store are off. A short session timeout makes a rebalance after a crash take seconds, not 45 s. A fetch
# waits at most 100 ms for data (librdkafka: 500 ms), a share of the freshness budget on a quiet topic.
DEFAULTS = {
    "fetch.wait.max.ms": 100,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "client.id": "madinina-lite-consumer",
}
BROKER_AT_HEADER = "broker_at"


def broker_time(headers, timestamp: tuple[int, int]) -> float | None:
    """When the message reached the broker path (epoch s), from a record's headers and (type, ms) timestamp: the
    bridge's `broker_at` header (the MQTT broker's delivery to the bridge), else the Kafka record timestamp (the
    producer's send time, or the broker's append time on a LogAppendTime topic). Untrusted input (anyone can set a
    header): never raises; the processor judges plausibility."""
    for key, value in headers or ():
        if key == BROKER_AT_HEADER and value:
            try:
                stamp = float(value)
            except (ValueError, TypeError, OverflowError):
                break
            if math.isfinite(stamp):
                return stamp
            break
    kind, millis = timestamp
    return millis / 1000.0 if kind != 0 and millis > 0 else None  # 0 = TIMESTAMP_NOT_AVAILABLE


@dataclass
class KafkaConsumerConfig:
    bootstrap: str = "localhost:9092"
    topic: str = "sensor_data"
    group: str = DEFAULT_GROUP
    revoke_timeout_s: float = 10.0
    config: dict = field(default_factory=dict)


class KafkaIngestConsumer:
    def __init__(self, config: KafkaConsumerConfig, ingest: SpooledIngest, *, clock=time.time):
        from confluent_kafka import Consumer

        self.config = config
        self.ingest = ingest
        self.clock = clock
        ingest.on_commit = self._on_db_commit
        self._run = uuid.uuid4().hex[:12]
        self._epochs = 0
        self._lock = threading.Condition()
        self._epoch: dict[tuple[str, int], str] = {}  # owned partition -> its current epoch token
        self._offered: dict[tuple[str, int], int] = {}  # highest offset the spool took, this epoch
        self._in_db: dict[tuple[str, int], int] = {}  # highest offset committed to the database, this epoch
        self._in_kafka: dict[tuple[str, int], int] = {}  # next offset committed to the group
        self._held: list = []  # messages the spool did not take yet (full): offered again, partitions paused
        self._paused = False
        self._closing = False
        self.assignments: list[list[int]] = []  # partition lists of each assignment (the tests look)
        self.consumer = Consumer(
            {
                **DEFAULTS,
                "bootstrap.servers": config.bootstrap,
                "group.id": config.group,
                **config.config,
                "logger": log,
            }  # fmt: skip
        )

    def start(self) -> None:
        self.consumer.subscribe(
            [self.config.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    # -- group callbacks (on this thread, inside consume()) ----------------------------------------------------
    def _on_assign(self, _consumer, partitions) -> None:
        with self._lock:
            for tp in partitions:
                key = (tp.topic, tp.partition)
                self._epochs += 1
                self._epoch[key] = f"{self._run}.{self._epochs}"
                self._offered.pop(key, None)
                self._in_db.pop(key, None)
                self._in_kafka.pop(key, None)
        self.assignments.append(sorted(tp.partition for tp in partitions))
        log.info("kafka: assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing")

    def _on_revoke(self, _consumer, partitions) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + (0 if self._closing else self.config.revoke_timeout_s)
        with self._lock:
            # Wait for the drain to put in the database what the spool took from these partitions (bounded: a
            # database outage must not stall the group; the next owner re-reads, the sink absorbs the repeats).
            while any(self._in_db.get(k, -1) < self._offered.get(k, -1) for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.2))
        self.commit(only=keys)
        self._forget(keys)
        log.info("kafka: revoked %s", ", ".join(f"{t}[{p}]" for t, p in sorted(keys)) or "nothing")

    def _on_lost(self, _consumer, partitions) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._forget(keys)  # someone else owns them already: committing would be wrong
        log.warning("kafka: lost %s", ", ".join(f"{t}[{p}]" for t, p in sorted(keys)))

    def _forget(self, keys: set) -> None:
        with self._lock:
            for key in keys:
                self._epoch.pop(key, None)
                self._offered.pop(key, None)
                self._in_db.pop(key, None)
                self._in_kafka.pop(key, None)
        self._held = [m for m in self._held if (m.topic(), m.partition()) not in keys]

    # -- the drain's callback (drain thread) ---------------------------------------------------------------------
    def _on_db_commit(self, entries: list[Entry]) -> None:
        with self._lock:
            for entry in entries:
                if not entry.meta:
                    continue
                try:
                    meta = json.loads(entry.meta)
                    key = (meta["topic"], int(meta["partition"]))
                    offset, epoch = int(meta["offset"]), meta.get("epoch")
                except (ValueError, KeyError, TypeError):
                    continue
                if epoch is not None and self._epoch.get(key) == epoch and offset > self._in_db.get(key, -1):
                    self._in_db[key] = offset
            self._lock.notify_all()

    # -- this thread -------------------------------------------------------------------------------------------
    def poll(self, max_wait: float = 0.2, *, max_take: int = 5000) -> int:
        """Take messages into the spool; commit the offsets the database has. Returns how many were taken."""
        from confluent_kafka import KafkaError

        taken = 0
        messages = self.consumer.consume(max_take, max_wait)
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka: %s", error.str())
                continue
            if (message.topic(), message.partition()) in self._epoch:
                self._held.append(message)
                taken += 1
        self._offer_held()
        self.commit()
        return taken

    def _offer_held(self) -> None:
        if not self._held:
            if self._paused:
                self._pause(False)
            return
        now = self.clock()
        rows = []
        for m in self._held:
            key = (m.topic(), m.partition())
            meta = {"topic": key[0], "partition": key[1], "offset": m.offset(), "epoch": self._epoch.get(key),
                    "broker_at": broker_time(m.headers(), m.timestamp())}  # fmt: skip
            rows.append((m.value() or b"", now, "kafka", json.dumps(meta)))
        accepted = self.ingest.offer(rows)
        with self._lock:
            for m in self._held[:accepted]:
                key = (m.topic(), m.partition())
                self._offered[key] = max(self._offered.get(key, -1), m.offset())
        del self._held[:accepted]
        if bool(self._held) != self._paused:
            self._pause(bool(self._held))

    def _pause(self, pause: bool) -> None:
        assignment = self.consumer.assignment()
        if assignment:
            (self.consumer.pause if pause else self.consumer.resume)(assignment)
        self._paused = pause

    def commit(self, only: set | None = None) -> int:
        """Commit, for owned partitions, the offset after the last message the database holds; returns how many
        partitions moved. A failed commit is retried on the next call (the offsets only ever move forward)."""
        from confluent_kafka import KafkaException, TopicPartition

        with self._lock:
            due = {
                key: offset + 1
                for key, offset in self._in_db.items()
                if key in self._epoch and (only is None or key in only) and offset + 1 > self._in_kafka.get(key, -1)
            }
        if not due:
            return 0
        try:
            self.consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(due.items())], asynchronous=False
            )
        except KafkaException as exc:
            log.warning("kafka: offset commit failed (%s); retrying with the next batch", exc.args[0].str())
            return 0
        with self._lock:
            for key, offset in due.items():
                self._in_kafka[key] = max(self._in_kafka.get(key, -1), offset)
        return len(due)

    @property
    def held(self) -> int:
        return len(self._held)

    def close(self) -> None:
        """After the drain finished: commit what the database has, leave the group."""
        self.commit()
        self._closing = True
        self.consumer.close()


def require_client() -> None:
    """confluent-kafka is pinned in requirements-spark.txt (not the lite install): say so instead of a traceback."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        raise OSError(
            "the Kafka commands need confluent-kafka: .venv/bin/pip install -r requirements-spark.txt"
        ) from None


def cmd_consume_kafka(args) -> int:
    from ingestion.__main__ import AlertsTicker, Stop, _report, _sync
    from ingestion.ops import open_ingest, writer_dsn

    require_client()
    stop = Stop()
    dsn = writer_dsn(args)
    name = args.name or f"kafka-{args.group}"
    # As `consume`: the drain thread syncs the code catalogue once the database answers; the intake spools meanwhile.
    ingest = open_ingest(args, dsn=dsn, name=name, source="kafka", stop=stop.event, max_delay_s=args.max_delay,
                         setup=lambda: _sync(args, stop))  # fmt: skip
    alerts = AlertsTicker(dsn, args.alerts_every)
    consumer = KafkaIngestConsumer(KafkaConsumerConfig(args.kafka_bootstrap, args.kafka_topic, args.group), ingest)
    ingest.start()
    consumer.start()
    print(f"consume-kafka: {args.kafka_bootstrap} topic {args.kafka_topic} group {args.group}, spool "
          f"{ingest.spool.directory}", flush=True)  # fmt: skip
    last_report = time.monotonic()
    while not stop:
        consumer.poll(0.2)
        alerts.maybe_run()
        if time.monotonic() - last_report >= args.report_every:
            print(_report(ingest, "consume-kafka"), flush=True)
            last_report = time.monotonic()
    ingest.join(30)
    ingest.finish()
    consumer.close()
    alerts.close()
    print(_report(ingest, "stopped cleanly"), flush=True)
    return 0


def add_kafka_parsers(sub) -> None:
    from ingestion.ops import add_spool_args
    from ingestion.transports.bridge import add_bridge_parser

    p = sub.add_parser("consume-kafka", help="lite consumer: Kafka (consumer group) -> validation -> database")
    p.add_argument("--kafka-bootstrap", default="localhost:9092", help="bootstrap servers (default localhost:9092)")
    p.add_argument("--kafka-topic", default="sensor_data")
    p.add_argument("--group", default=DEFAULT_GROUP, help=f"consumer group (default {DEFAULT_GROUP})")
    p.add_argument("--name", help="consumer name in ingest_status and the spool directory (default kafka-<group>)")
    p.add_argument("--max-delay", type=float, default=0.5, help="seconds a reading may wait in a batch")
    p.add_argument("--alerts-every", type=float, default=5.0)
    p.add_argument("--report-every", type=float, default=10.0)
    add_spool_args(p)
    p.set_defaults(func=cmd_consume_kafka)
    add_bridge_parser(sub)
