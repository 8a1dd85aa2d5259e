"""A Spark streaming source over confluent-kafka (PySpark's Python Data Source API), with the columns of Spark's own
Kafka source: key, value, topic, partition, offset, timestamp, timestampType, headers.

Why it exists: Spark's Kafka connector (org.apache.spark:spark-sql-kafka-0-10, a jar) cannot be obtained on this
machine, so `format("kafka")` cannot run here. This source runs the same job on a real broker (Tansu in the tests
and benchmarks, any Kafka elsewhere: `--source kafka-python`); `deploy/` keeps `format("kafka")`. Both hand the
job the same columns, projected by sources.kafka_messages, so everything after the source is the same code.

Semantics, as the connector's:
- offsets {"<topic>": {"<partition>": <next offset>}} live in the query's checkpoint (Spark's offsets/ log);
  nothing is committed to Kafka (no consumer group). A restart resumes from the checkpoint; a micro-batch
  replayed after a crash reads exactly the same offset ranges (`partitions` depends only on start and end);
- one Spark task reads a Kafka partition's range in order; options `subscribe` (comma-separated topics),
  `startingOffsets` (earliest | latest | JSON, first start only), `maxOffsetsPerTrigger` (spread over the
  partitions in proportion to their backlog), `failOnDataLoss` (offsets the broker no longer has: fail, or go on
  from the earliest it has), `kafka.<librdkafka option>`;
- one difference, option `minOffsetsPerTask` (default MIN_OFFSETS_PER_TASK): consecutive ranges are read by one
  task until it has that many offsets, so a small micro-batch (the live stream with a 1 s trigger) is one task,
  one Python worker and one database transaction instead of one per Kafka partition — on 2 cores, 3 tasks ran in
  two waves and tripled the per-task fixed cost (measured, docs/benchmarks.md). A large micro-batch keeps one
  task per partition. The grouping depends only on the start and end offsets, so a replayed micro-batch is split
  the same way (its ledger identities match); `minOffsetsPerTask=1` gives one task per partition, as the connector;
- Trigger.AvailableNow: the ends are fixed when the query starts.

Tansu: its ListOffsets(latest) counts only the first record of a partition's last record batch (measured: 3,106
messages produced, high watermark 107), while fetches return everything. So the end of a partition is found by
reading from that reported high watermark minus one up to the partition's end (EOF): at most one record batch
(with Kafka: one record).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow

log = logging.getLogger(__name__)

NAME = "madinina_kafka"
# The columns of Spark's Kafka source (includeHeaders=true).
SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, timestamp timestamp, "
    "timestampType int, headers array<struct<key: string, value: binary>>"
)
BATCH_ROWS = 10_000  # rows per Arrow record batch handed to Spark
MIN_OFFSETS_PER_TASK = 10_000  # ~40,000 readings, ~1 s of a task's work: less is not worth a task of its own
STALL_S = 60.0  # a read that gets nothing for this long fails its task (Spark retries it)


def client_config(options: dict[str, str]) -> dict:
    """librdkafka settings: every `kafka.<name>` option, plus a consumer that never commits anything."""
    config = {k[len("kafka.") :]: v for k, v in options.items() if k.startswith("kafka.")}
    return {
        **config,
        "group.id": config.get("group.id", "madinina-spark-source"),  # required by librdkafka; never used to commit
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": config.get("fetch.wait.max.ms", 100),  # as the lite consumer: 500 ms is freshness lost
    }


@dataclass(frozen=True)
class Range:
    """Offsets [start, end) of one topic partition in one micro-batch."""

    topic: str
    partition: int
    start: int
    end: int


@dataclass(frozen=True)
class Ranges(InputPartition):
    """What one task reads: ranges of one or more topic partitions, one after the other."""

    ranges: tuple[Range, ...]


def grouped(ranges: list[Range], min_offsets: int) -> list[Ranges]:
    """Consecutive ranges in groups of at least `min_offsets` offsets (the last group takes what is left over)."""
    groups: list[list[Range]] = []
    size = 0
    for r in ranges:
        if not groups or size >= min_offsets:
            groups.append([])
            size = 0
        groups[-1].append(r)
        size += r.end - r.start
    if len(groups) > 1 and size < min_offsets:
        leftover = groups.pop()
        groups[-1] += leftover
    return [Ranges(tuple(g)) for g in groups]


class KafkaPythonSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema) -> KafkaStreamReader:
        return KafkaStreamReader({k.lower(): v for k, v in self.options.items()})


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]):
        if "subscribe" not in options or "kafka.bootstrap.servers" not in options:
            raise ValueError("options kafka.bootstrap.servers and subscribe are required")
        self.options = options
        self.topics = [t.strip() for t in options["subscribe"].split(",") if t.strip()]
        self.starting = options.get("startingoffsets", "earliest")
        limit = options.get("maxoffsetspertrigger")
        self.max_offsets = int(limit) if limit else None
        self.fail_on_data_loss = options.get("failondataloss", "true").lower() != "false"
        self.timeout = float(options.get("timeout", "30"))
        self.min_offsets_per_task = int(options.get("minoffsetspertask", MIN_OFFSETS_PER_TASK))
        self._consumer = None  # the driver's, for metadata and ends; read() makes its own on the executor
        self._target: dict | None = None  # AvailableNow: the ends when the query started

    # -- the driver side: where the data ends ---------------------------------------------------------------
    def _client(self):
        from confluent_kafka import Consumer

        if self._consumer is None:
            self._consumer = Consumer(client_config(self.options))
        return self._consumer

    def _partitions(self) -> list[tuple[str, int]]:
        metadata = self._client().list_topics(timeout=self.timeout).topics
        found = []
        for topic in self.topics:
            info = metadata.get(topic)
            if info is not None and info.error is None:  # a topic not created yet has no data yet
                found += [(topic, p) for p in sorted(info.partitions)]
        return found

    def _bounds(self) -> dict[tuple[str, int], tuple[int, int]]:
        """{(topic, partition): (low, end)}: end is the offset after the last message, found by reading (above)."""
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        client = self._client()
        bounds, probe = {}, []
        for topic, p in self._partitions():
            low, listed = client.get_watermark_offsets(TopicPartition(topic, p), timeout=self.timeout)
            bounds[(topic, p)] = (low, listed)
            if listed > low:
                probe.append(TopicPartition(topic, p, max(low, listed - 1)))
        if probe:
            client.assign(probe)
            pending = {(tp.topic, tp.partition) for tp in probe}
            deadline = time.monotonic() + self.timeout
            try:
                while pending:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the end of {sorted(pending)} was not found in {self.timeout:g} s")
                    # consume() returns when it has `num` messages or at the timeout: ask for little, wait little.
                    for message in client.consume(100, 0.05):
                        error = message.error()
                        if error is not None and error.code() != KafkaError._PARTITION_EOF:
                            raise KafkaException(error)
                        key = (message.topic(), message.partition())
                        if error is not None and key in pending:  # EOF: its offset is the partition's end
                            bounds[key] = (bounds[key][0], message.offset())
                            pending.discard(key)
            finally:
                client.unassign()
        return bounds

    def _offsets(self, values: dict[tuple[str, int], int]) -> dict:
        offsets: dict[str, dict[str, int]] = {}
        for (topic, p), offset in values.items():
            offsets.setdefault(topic, {})[str(p)] = offset
        return offsets

    def initialOffset(self) -> dict:
        bounds = self._bounds()
        if self.starting == "earliest":
            return self._offsets({key: low for key, (low, _) in bounds.items()})
        if self.starting == "latest":
            return self._offsets({key: end for key, (_, end) in bounds.items()})
        import json

        given = json.loads(self.starting)  # {"topic": {"0": 12, "1": -2}}: -2 earliest, -1 latest
        chosen = {}
        for (topic, p), (low, end) in bounds.items():
            offset = given.get(topic, {}).get(str(p), -2)
            chosen[(topic, p)] = low if offset == -2 else end if offset == -1 else offset
        return self._offsets(chosen)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_offsets) if self.max_offsets else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = self._bounds()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        bounds = self._target if self._target is not None else self._bounds()
        begin, end = {}, {}
        for key, (low, high) in bounds.items():
            offset = start.get(key[0], {}).get(str(key[1]), low)  # a partition added since: from its earliest
            if offset < low:
                if self.fail_on_data_loss:
                    raise RuntimeError(
                        f"{key[0]}[{key[1]}]: offsets {offset}..{low - 1} are no longer on the broker (retention?); "
                        "set failOnDataLoss=false to go on from the earliest offset it has"
                    )
                log.warning("%s[%s]: offsets %s..%s lost, going on from %s", *key, offset, low - 1, low)
                offset = low
            begin[key], end[key] = offset, max(offset, high)
        if isinstance(limit, ReadMaxRows):
            end = _capped(begin, end, limit.max_rows)
        return self._offsets(end)

    def partitions(self, start: dict, end: dict) -> list[Ranges]:
        ranges = []
        for topic, ends in sorted(end.items()):
            for p, stop in sorted(ends.items(), key=lambda kv: int(kv[0])):
                begin = start.get(topic, {}).get(p, 0)
                if stop > begin:
                    ranges.append(Range(topic, int(p), begin, stop))
        return grouped(ranges, self.min_offsets_per_task)

    def commit(self, end: dict) -> None:
        """Nothing to do: the offsets are in the checkpoint, and Kafka keeps the data by its retention."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # -- the executor side: a task's ranges, each in order ----------------------------------------------------
    def read(self, partition: Ranges):
        yield from _read_ranges(_executor_consumer(self.options), partition.ranges)


def _read_ranges(consumer, ranges: tuple[Range, ...]):
    """The records of a task's ranges as Arrow record batches: range after range, each in offset order, so a replay
    hands on the same sequence. The partitions are fetched together (one assignment: one round trip rather than
    one per range); the range being handed on streams, the later ones wait in memory (the task holds its messages
    anyway, partition.messages_of)."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    keys = [(r.topic, r.partition) for r in ranges]
    ends = {key: r.end for key, r in zip(keys, ranges, strict=True)}
    position = {key: r.start for key, r in zip(keys, ranges, strict=True)}
    rows: dict[tuple[str, int], list[tuple]] = {key: [] for key in keys}
    current = 0  # the range being handed on
    consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in ranges])
    try:
        progress = time.monotonic()
        while current < len(keys):
            key = keys[current]
            if position[key] >= ends[key] or len(rows[key]) >= BATCH_ROWS:
                done = position[key] >= ends[key]
                while len(rows[key]) >= BATCH_ROWS or (done and rows[key]):
                    yield _record_batch(rows[key][:BATCH_ROWS])
                    rows[key] = rows[key][BATCH_ROWS:]
                current += done
                continue
            if time.monotonic() - progress > STALL_S:
                behind = {k: position[k] for k in keys if position[k] < ends[k]}
                raise TimeoutError(f"nothing read in {STALL_S:g} s from the offsets {behind}")
            remaining = sum(ends[k] - position[k] for k in keys if position[k] < ends[k])
            # consume() waits until it has `num` messages (or the timeout): ask for no more than remain.
            for message in consumer.consume(min(BATCH_ROWS, remaining), 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue  # behind the end found by the driver: more is on its way
                    raise KafkaException(error)
                got = (message.topic(), message.partition())
                if got not in ends or message.offset() < position[got]:
                    continue  # fetched for an earlier assignment of this cached consumer
                if message.offset() >= ends[got]:  # past the range (the offsets before it may have gaps)
                    position[got] = ends[got]
                    continue
                rows[got].append(_row(message))
                position[got], progress = message.offset() + 1, time.monotonic()
    finally:
        consumer.unassign()


# Spark reuses its Python workers from task to task: each keeps one consumer (as the connector keeps a consumer
# cache per executor), assigned to the range of each task, instead of connecting anew every time. One configuration
# at a time: asked for another, a worker closes the one it kept (a worker outlives a query, and its broker, in the
# tests; a consumer left to a stopped broker would retry its connection for as long as the worker lives).
_CONSUMERS: dict[tuple, object] = {}


def _executor_consumer(options: dict[str, str]):
    from confluent_kafka import Consumer

    key = tuple(sorted(options.items()))
    if key not in _CONSUMERS:
        for consumer in _CONSUMERS.values():
            consumer.close()
        _CONSUMERS.clear()
        _CONSUMERS[key] = Consumer(client_config(options))
    return _CONSUMERS[key]


def _capped(begin: dict, end: dict, max_rows: int) -> dict:
    """maxOffsetsPerTrigger: each partition gets a share of `max_rows` in proportion to its backlog (at least one
    offset when it has any, so a small partition is not starved)."""
    backlog = {key: end[key] - begin[key] for key in end}
    total = sum(backlog.values())
    if total <= max_rows:
        return end
    return {key: begin[key] + (min(lag, max(1, lag * max_rows // total)) if lag else 0) for key, lag in backlog.items()}


def _row(message) -> tuple:
    kind, millis = message.timestamp()
    return (
        message.key(),
        message.value(),
        message.topic(),
        message.partition(),
        message.offset(),
        millis * 1000 if kind else None,
        kind - 1,  # librdkafka: 0 none, 1 CreateTime, 2 LogAppendTime; Spark's source: -1, 0, 1 (Kafka's ids)
        message.headers(),
    )


def _record_batch(rows: list[tuple]):
    import pyarrow as pa

    key, value, topic, partition, offset, micros, kind, headers = zip(*rows, strict=True)
    header_type = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(key, pa.binary()),
            pa.array(value, pa.binary()),
            pa.array(topic, pa.string()),
            pa.array(partition, pa.int32()),
            pa.array(offset, pa.int64()),
            pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(kind, pa.int32()),
            pa.array([None if h is None else [{"key": k, "value": v} for k, v in h] for h in headers], header_type),
        ],
        names=["key", "value", "topic", "partition", "offset", "timestamp", "timestampType", "headers"],
    )
