"""The executor side of the Spark job: one task's messages -> the lite processor's batch -> Writer.commit.

The sink (sinks.py) runs `batch_df.mapInArrow(PartitionWriter(...), SUMMARY_DDL)` for each micro-batch: every task
gets the Arrow record batches of its partition (columns MESSAGE_COLUMNS), kept as columns (Messages), and this
module does with them what the lite processor does with the messages of a spool batch: build the batch — by
fastpath.FastBuilder, which validates canonical messages as Arrow columns and hands every other message to
ingestion/validation.py's Validator, giving LiteProcessor.build's very Batch (or by LiteProcessor.build itself
with fast=False, the job's --no-fast-path) — and `Writer.commit` (quarantine, raw rows ON CONFLICT DO NOTHING,
sensor_latest, every window merged from the rows really inserted, pipeline_kpi and the ingest_ledger row, in ONE
transaction). It yields one summary row; nothing else goes back to the driver.

Exactly once: the ledger row of each commit carries an identity of what it committed, as a spool's batch does:
spool_id "spark:<query id>:<micro-batch>:<partition>:<chunk>:<digest of the messages>" (UNIQUE with last_seq), and
Writer.commit writes nothing when the ledger has it already (a task retried after its commit, a micro-batch
replayed after a crash). Even where the identity differs (the same micro-batch split otherwise after a restart
with other settings), the writes are idempotent: a reading already stored is not stored or merged again, it counts
as a duplicate.

Nothing here imports pyspark at module level (TaskContext is read when present): tests/unit runs it without a JVM.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.kafka_consumer import BROKER_AT_HEADER, broker_time
from ingestion.processor import LiteProcessor
from ingestion.spark.fastpath import FastBuilder
from ingestion.validation import Catalogue, Validator
from ingestion.writer import Writer

log = logging.getLogger(__name__)

PROCESSOR = "spark"
# What every source hands on (sources.py): the message as received and what the latency stages are measured from.
MESSAGE_COLUMNS = ("value", "received_at", "source", "broker_header", "record_ms", "record_type")
MAX_MESSAGES = 100_000  # per commit (transaction): bounds a task's memory whatever the micro-batch size

SUMMARY_SCHEMA = pa.schema(
    [
        ("partition", pa.int64()),
        ("commits", pa.int64()),
        ("replayed", pa.int64()),  # commits the ledger already had (their counts are the ledger's)
        ("received", pa.int64()),  # messages, as ingest_ledger.received
        ("stored", pa.int64()),  # readings
        ("duplicates", pa.int64()),
        ("quarantined", pa.int64()),  # rejections
        ("quarantine_duplicates", pa.int64()),
        ("by_reason", pa.string()),  # JSON {reason: rejections}
        ("started", pa.float64()),  # epoch seconds: when the task got its first record batch, and when it ended
        ("ended", pa.float64()),
        ("read_s", pa.float64()),  # seconds in this task: Arrow -> messages
        ("validate_s", pa.float64()),  # FastBuilder.build (or LiteProcessor.build)
        ("fast", pa.int64()),  # messages that took the columnar fast path
        ("write_s", pa.float64()),  # Writer.commit
    ]
)
SUMMARY_DDL = ", ".join(
    f"{f.name} {'bigint' if f.type == pa.int64() else 'double' if f.type == pa.float64() else 'string'}"
    for f in SUMMARY_SCHEMA
)
_COUNTS = ("received", "stored", "duplicates", "quarantined", "quarantine_duplicates")
_LEDGER_COUNTS = f"SELECT {', '.join(_COUNTS)}, by_reason FROM ingest_ledger WHERE spool_id = %s AND last_seq = %s"


@dataclass
class Messages:
    """One task's messages as columns: payloads (Arrow binary, null = a Kafka tombstone), received_at and broker_at
    (epoch s, NaN = none). `rows` gives them as the (payload, received_at, broker_at) tuples LiteProcessor.build
    takes, only when asked (the exact path, the fast path's leftovers take them one by one: row())."""

    values: pa.ChunkedArray
    received: np.ndarray
    broker: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.received)

    def row(self, i: int) -> tuple[bytes, float, float | None]:
        broker = self.broker[i]
        return (self.values[i].as_py() or b"", float(self.received[i]), None if np.isnan(broker) else float(broker))

    def slice(self, first: int, count: int) -> Messages:
        end = first + count
        return Messages(self.values.slice(first, count), self.received[first:end], self.broker[first:end], self.source)

    @property
    def rows(self) -> list[tuple[bytes, float, float | None]]:
        payloads = [v or b"" for v in self.values.to_pylist()]
        brokers = [None if np.isnan(b) else b for b in self.broker.tolist()]
        return list(zip(payloads, self.received.tolist(), brokers, strict=True))


def messages_of(batches: Iterator[pa.RecordBatch]) -> Messages:
    """The messages of a task's record batches. A missing value (a Kafka tombstone) is the empty message, which
    the validator quarantines; the broker instant follows the lite Kafka consumer's rule (broker_time), computed
    only for the records that come from Kafka (files have no record timestamp)."""
    source = PROCESSOR
    values, received, broker = [], [], []
    for batch in batches:
        columns = {name: batch.column(name) for name in MESSAGE_COLUMNS}
        values.append(columns["value"].cast(pa.binary()))
        stamps = columns["received_at"].cast(pa.int64())
        us = stamps.fill_null(0).to_numpy(zero_copy_only=False).astype("float64") / 1e6
        if stamps.null_count:
            us[stamps.is_null().to_numpy(zero_copy_only=False)] = time.time()
        received.append(us)
        at = np.full(len(batch), np.nan)
        record_ms = columns["record_ms"]
        kafka = np.flatnonzero(record_ms.is_valid().to_numpy(zero_copy_only=False))
        if len(kafka):  # from Kafka: Spark's timestamp types are librdkafka's minus one
            headers = columns["broker_header"].take(kafka).to_pylist()
            kinds = columns["record_type"].take(kafka).to_pylist()
            for i, header, ms, kind in zip(kafka, headers, record_ms.take(kafka).to_pylist(), kinds, strict=True):
                stamp = [(BROKER_AT_HEADER, header)] if header is not None else None
                found = broker_time(stamp, ((kind if kind is not None else -1) + 1, ms))
                at[i] = np.nan if found is None else found
        broker.append(at)
        if len(batch) and source == PROCESSOR:
            source = columns["source"][0].as_py() or source
    return Messages(
        pa.chunked_array(values, pa.binary()),
        np.concatenate(received) if received else np.zeros(0),
        np.concatenate(broker) if broker else np.zeros(0),
        source,
    )


def digest(rows: list[tuple]) -> str:
    """A digest of the messages (in order): a ledger identity only matches the very same messages."""
    h = hashlib.blake2b(digest_size=12)
    for payload, _, _ in rows:
        h.update(len(payload).to_bytes(8, "little"))
        h.update(payload)
    return h.hexdigest()


def digest_of(values: pa.Array | pa.ChunkedArray) -> str:
    """digest() of the payloads of an Arrow column (null: the empty message), without a Python object per
    message: each payload prefixed with its 8-byte little-endian length by one Arrow join per chunk (a chunk is
    one of Spark's record batches: never combined, whose 32-bit offsets a task's many batches could overflow),
    whose data buffer is then the very byte stream digest() hashes."""
    h = hashlib.blake2b(digest_size=12)
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        if not len(chunk):
            continue
        chunk = chunk.fill_null(b"")
        lengths = pc.binary_length(chunk).cast(pa.int64()).to_numpy(zero_copy_only=False).astype("<i8")
        prefixes = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(8), len(chunk), [None, pa.py_buffer(lengths.tobytes())]
        )
        joined = pc.binary_join_element_wise(prefixes.cast(pa.binary()), chunk, b"")
        offsets = np.frombuffer(joined.buffers()[1], dtype="int32", count=len(joined) + 1, offset=4 * joined.offset)
        h.update(memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]])
    return h.hexdigest()


class PartitionWriter:
    """The mapInArrow function of one micro-batch. Picklable: the writer's URL, the catalogue read when the query
    started (the fallback while the database does not answer), the query and micro-batch ids."""

    def __init__(
        self,
        dsn: str,
        catalogue: Catalogue,
        *,
        query_id: str,
        batch_id: int,
        max_messages: int = MAX_MESSAGES,
        clock=None,
        fast: bool = True,
    ):
        self.dsn = dsn
        self.catalogue = catalogue
        self.query_id = query_id
        self.batch_id = batch_id
        self.max_messages = max_messages
        self.clock = clock
        self.fast = fast  # False: every message through LiteProcessor.build (the reference the fast path matches)

    def current_catalogue(self) -> Catalogue:
        """The database's catalogue of the moment, read as each task starts, as the lite consumer keeps it: a
        sensor an operator adds or deactivates counts from the next micro-batch on, without a restart."""
        try:
            return Catalogue.from_db(_reader(self.dsn))
        except psycopg2.Error as exc:
            _forget_reader(self.dsn)
            log.warning("catalogue not readable (%s): validating with the one read at query start", exc)
            return self.catalogue

    def identity(self, partition: int, chunk: int, messages: Messages) -> str:
        return f"spark:{self.query_id}:{self.batch_id}:{partition}:{chunk}:{digest_of(messages.values)}"

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        started, wall = time.perf_counter(), time.time()
        messages = messages_of(batches)
        if not len(messages):
            return
        summary = {name: 0 for name in ("commits", "replayed", *_COUNTS)}
        summary.update(partition=_partition_id(), started=wall, read_s=time.perf_counter() - started, validate_s=0.0,
                       write_s=0.0)  # fmt: skip
        by_reason: dict[str, int] = {}
        kwargs = {"clock": self.clock} if self.clock is not None else {}
        validator = Validator(self.current_catalogue(), source=messages.source, **kwargs)
        writer = _writer(self.dsn)
        processor = LiteProcessor(writer, validator)
        builder = FastBuilder(validator)
        for chunk, first in enumerate(range(0, len(messages), self.max_messages)):
            part = messages.slice(first, self.max_messages)
            t0 = time.perf_counter()
            batch = builder.build(part) if self.fast else processor.build(part.rows, source=messages.source)
            batch.spool_id = self.identity(summary["partition"], chunk, part)
            batch.first_seq, batch.last_seq = 1, len(part)
            t1 = time.perf_counter()
            result = writer.commit(batch)
            summary["validate_s"] += t1 - t0
            summary["write_s"] += time.perf_counter() - t1
            summary["commits"] += 1
            if result.replayed:
                summary["replayed"] += 1
                counts, reasons = self._ledger_counts(batch.spool_id, batch.last_seq)
            else:
                counts = dict(zip(_COUNTS, (batch.received, result.stored, result.duplicates,
                                            result.quarantined, result.quarantine_duplicates), strict=True))  # fmt: skip
                reasons = result.by_reason
            for name in _COUNTS:
                summary[name] += counts[name]
            for reason, n in reasons.items():
                by_reason[reason] = by_reason.get(reason, 0) + n
        summary["fast"] = builder.fast_messages
        summary["by_reason"] = json.dumps(by_reason, sort_keys=True)
        summary["ended"] = time.time()
        yield pa.RecordBatch.from_pylist([summary], schema=SUMMARY_SCHEMA)

    def _ledger_counts(self, spool_id: str, last_seq: int) -> tuple[dict[str, int], dict[str, int]]:
        """What the ledger recorded for a commit made before (a replay): the micro-batch's counts stay whole."""
        try:
            with _reader(self.dsn).cursor() as cur:
                cur.execute(_LEDGER_COUNTS, (spool_id, last_seq))
                row = cur.fetchone()
        except psycopg2.Error:
            _forget_reader(self.dsn)
            raise
        return dict(zip(_COUNTS, row[: len(_COUNTS)], strict=True)), dict(row[-1])


# Spark reuses its Python workers from task to task (spark.python.worker.reuse): each keeps one Writer and one
# reading connection for the job's database instead of opening them for every task of every micro-batch (measured:
# the connections, their settings and the writer's staging table were a large share of a small micro-batch). One
# database at a time: asked for another, a worker closes what it kept (a worker outlives a query in the tests).
# They go with the worker process; the Writer reconnects by itself after a failure.
_KEPT: dict[str, tuple[Writer, list]] = {}


def _kept(dsn: str) -> tuple[Writer, list]:
    if dsn not in _KEPT:
        for writer, reader in _KEPT.values():
            writer.close()
            if reader and not reader[0].closed:
                reader[0].close()
        _KEPT.clear()
        # retries=None: a database outage makes the micro-batch wait, as it makes the lite consumers wait.
        _KEPT[dsn] = (Writer(dsn, processor=PROCESSOR, retries=None), [])
    return _KEPT[dsn]


def _writer(dsn: str) -> Writer:
    return _kept(dsn)[0]


def _reader(dsn: str):
    """An autocommit connection for the catalogue and the ledger (reads only)."""
    held = _kept(dsn)[1]
    if not held or held[0].closed:
        conn = psycopg2.connect(dsn, connect_timeout=5, application_name="madinina-spark-executor")
        conn.autocommit = True
        held[:] = [conn]
    return held[0]


def _forget_reader(dsn: str) -> None:
    held = _KEPT.get(dsn, (None, []))[1]
    if held and not held[0].closed:
        held[0].close()
    held.clear()


def _partition_id() -> int:
    try:
        from pyspark import TaskContext
    except ImportError:
        return 0
    context = TaskContext.get()
    return context.partitionId() if context is not None else 0
