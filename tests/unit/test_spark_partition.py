"""The executor side of the Spark job without a JVM (ingestion/spark/partition.py): what a task makes of its Arrow
record batches (messages, broker instants, ledger identities), and the Kafka source's pure parts
(ingestion/spark/kafka_source.py: record batches with the connector's columns, maxOffsetsPerTrigger, the ranges
each task reads)."""

from __future__ import annotations

import pickle

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.kafka_consumer import broker_time
from ingestion.spark.kafka_source import SCHEMA, KafkaStreamReader, Range, _capped, _record_batch, grouped
from ingestion.spark.partition import MESSAGE_COLUMNS, PartitionWriter, digest, messages_of
from ingestion.validation import Catalogue

NOW = 1_795_000_000.0


def batch(values, *, headers=None, record_ms=None, record_type=None, source="kafka") -> pa.RecordBatch:
    n = len(values)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values, pa.binary()),
            pa.array([round(NOW * 1e6)] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array([source] * n, pa.string()),
            pa.array(headers or [None] * n, pa.binary()),
            pa.array(record_ms or [None] * n, pa.int64()),
            pa.array(record_type or [None] * n, pa.int32()),
        ],
        names=list(MESSAGE_COLUMNS),
    )


def test_messages_keep_the_bytes_and_take_the_broker_instant_by_the_lite_consumers_rule():
    values = [b'{"a": 1}', b"\xff\x00 not json", None, b"x", b"y"]
    headers = [b"1795000001.5", None, None, b"not a number", b"inf"]
    record_ms = [1_795_000_002_000, 1_795_000_003_000, None, 1_795_000_004_000, 1_795_000_005_000]
    record_type = [0, 1, None, 0, -1]  # Spark's ids: 0 CreateTime, 1 LogAppendTime, -1 none
    got = messages_of(iter([batch(values, headers=headers, record_ms=record_ms, record_type=record_type)]))
    assert got.source == "kafka"
    assert [r[0] for r in got.rows] == [b'{"a": 1}', b"\xff\x00 not json", b"", b"x", b"y"]  # a tombstone: empty
    assert {r[1] for r in got.rows} == {NOW}
    # The header wins; a header that is no finite number falls back to the record timestamp; no timestamp type
    # means no timestamp; nothing from Kafka (files) means no broker instant.
    assert [r[2] for r in got.rows] == [1795000001.5, 1795000003.0, None, 1795000004.0, None]
    files = messages_of(iter([batch([b"a"], source="files")]))
    assert files.rows == [(b"a", NOW, None)] and files.source == "files"
    assert messages_of(iter([])).rows == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.binary(max_size=50),
            st.none() | st.binary(max_size=20) | st.sampled_from([b"nan", b"-inf", b"1e400", b"1795000001"]),
            st.none() | st.integers(-(2**62), 2**62),
            st.none() | st.integers(-1, 1),
        ),
        max_size=8,
    )
)
def test_any_record_gives_one_message_with_its_bytes(records):
    values, headers, record_ms, record_type = (list(c) for c in zip(*records, strict=True)) if records else ([],) * 4
    got = messages_of(iter([batch(values, headers=headers, record_ms=record_ms, record_type=record_type)]))
    assert [r[0] for r in got.rows] == [v or b"" for v in values]
    for (_, _, broker_at), header, ms, kind in zip(got.rows, headers, record_ms, record_type, strict=True):
        if ms is None:
            assert broker_at is None
        else:
            stamp = [("broker_at", header)] if header is not None else None
            assert broker_at == broker_time(stamp, ((kind if kind is not None else -1) + 1, ms))


def test_a_ledger_identity_names_the_very_messages_it_committed():
    rows = [(b"a", NOW, None), (b"bc", NOW, None)]
    messages = messages_of(iter([batch([b"a", b"bc"], source="files")]))
    assert messages.rows == rows
    writer = PartitionWriter("postgresql://x", Catalogue.default(), query_id="q", batch_id=7)
    assert writer.identity(1, 0, messages) == f"spark:q:7:1:0:{digest(rows)}"
    # Other bytes, another order, another split of the same bytes: another identity.
    assert digest(rows) != digest(rows[::-1])
    assert digest([(b"ab", NOW, None), (b"c", NOW, None)]) != digest(rows)
    assert digest([(b"a", NOW + 5, 1.0), (b"bc", NOW, None)]) == digest(rows)  # only the messages count
    assert pickle.loads(pickle.dumps(writer)).identity(1, 0, messages) == writer.identity(1, 0, messages)


def test_kafka_record_batches_have_the_connectors_columns():
    class Message:
        def __init__(self, offset, headers):
            self._offset, self._headers = offset, headers

        def key(self):
            return b"k"

        def value(self):
            return b"v"

        def topic(self):
            return "t"

        def partition(self):
            return 2

        def offset(self):
            return self._offset

        def timestamp(self):
            return (1, 1_795_000_000_123)

        def headers(self):
            return self._headers

    from ingestion.spark.kafka_source import _row

    out = _record_batch([_row(Message(5, None)), _row(Message(6, [("broker_at", b"1.5"), ("x", None)]))])
    names = [part.split(" ")[0] for part in SCHEMA.split(", ") if not part.startswith("value:")]
    assert out.schema.names == names[:8]
    first, second = out.to_pylist()
    assert first["timestampType"] == 0 and first["timestamp"].timestamp() == 1_795_000_000.123
    assert (first["offset"], first["headers"]) == (5, None)
    assert second["headers"] == [{"key": "broker_at", "value": b"1.5"}, {"key": "x", "value": None}]


def test_max_offsets_per_trigger_is_shared_by_backlog_and_starves_no_partition():
    begin = {("t", 0): 0, ("t", 1): 100, ("t", 2): 5}
    end = {("t", 0): 1000, ("t", 1): 110, ("t", 2): 5}
    capped = _capped(begin, end, 101)
    assert capped[("t", 2)] == 5  # nothing to read there
    assert capped[("t", 1)] == 101 and capped[("t", 0)] == 100  # 1 of 10 and 100 of 1000 offsets
    assert sum(capped[k] - begin[k] for k in begin) == 101
    assert _capped(begin, end, 10_000) == end


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), max_size=8), st.integers(min_value=1, max_value=120))
def test_tasks_read_consecutive_ranges_until_they_have_enough(sizes, min_offsets):
    ranges = [Range("t", p, 1000 * p, 1000 * p + n) for p, n in enumerate(sizes)]
    groups = [list(g.ranges) for g in grouped(ranges, min_offsets)]
    assert [r for g in groups for r in g] == ranges  # every range once, in order
    size = [sum(r.end - r.start for r in g) for g in groups]
    assert all(n >= min_offsets for n in size) or len(groups) <= 1  # no task smaller than asked, unless the only one
    # and none larger than needed: without its last range, a group (but the last, which takes the leftovers) is short
    assert all(n - (g[-1].end - g[-1].start) < min_offsets for g, n in zip(groups[:-1], size[:-1], strict=True))
    assert pickle.loads(pickle.dumps(grouped(ranges, min_offsets))) == grouped(ranges, min_offsets)  # sent to tasks


def test_a_small_micro_batch_is_one_task_and_a_large_one_a_task_per_partition():
    reader = KafkaStreamReader({"subscribe": "t", "kafka.bootstrap.servers": "localhost:1"})
    start = {"t": {"0": 0, "1": 0, "2": 50}}
    small = reader.partitions(start, {"t": {"2": 110, "0": 60, "1": 70}})
    assert [[(r.partition, r.start, r.end) for r in g.ranges] for g in small] == [
        [(0, 0, 60), (1, 0, 70), (2, 50, 110)]
    ]
    large = reader.partitions(start, {"t": {"0": 20_000, "1": 30_000, "2": 50}})
    assert [[r.partition for r in g.ranges] for g in large] == [[0], [1]]
    reader = KafkaStreamReader({"subscribe": "t", "kafka.bootstrap.servers": "localhost:1", "minoffsetspertask": "1"})
    assert len(reader.partitions(start, {"t": {"0": 60, "1": 70, "2": 110}})) == 3  # as the connector


class _Record:
    """A confluent-kafka message as a consumer returns it (no error)."""

    def __init__(self, partition: int, offset: int):
        self._partition, self._offset = partition, offset

    def error(self):
        return None

    def key(self):
        return None

    def value(self):
        return f"{self._partition}:{self._offset}".encode()

    def topic(self):
        return "t"

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        return (1, 1_795_000_000_000)

    def headers(self):
        return None


class _Consumer:
    """Hands out the given records in the given order, `per_call` at a time, as the partitions are fetched together."""

    def __init__(self, records, per_call):
        self.records, self.per_call, self.assigned = list(records), per_call, None

    def assign(self, partitions):
        self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def unassign(self):
        self.assigned = None

    def consume(self, num, timeout):
        out, self.records = self.records[: min(num, self.per_call)], self.records[min(num, self.per_call) :]
        return out


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=7))
def test_a_task_reads_its_ranges_at_once_and_hands_them_on_range_after_range(rnd, per_call):
    from ingestion.spark import kafka_source

    ranges = (Range("t", 0, 10, 14), Range("t", 1, 0, 3), Range("t", 2, 5, 9))
    # Interleaved as fetched together; a stale record of an earlier assignment, a gap (offset 12 compacted away in
    # partition 0), records past the ranges' ends.
    streams = [[_Record(0, o) for o in (9, 10, 11, 13, 14, 15)], [_Record(1, o) for o in range(5)],
               [_Record(2, o) for o in range(5, 10)]]  # fmt: skip
    merged = []
    while any(streams):
        merged.append(rnd.choice([s for s in streams if s]).pop(0))
    consumer = _Consumer(merged, per_call)
    kafka_source.BATCH_ROWS, saved = 2, kafka_source.BATCH_ROWS  # several record batches per range
    try:
        batches = list(kafka_source._read_ranges(consumer, ranges))
    finally:
        kafka_source.BATCH_ROWS = saved
    got = [value.decode() for b in batches for value in b.column("value").to_pylist()]
    assert got == ["0:10", "0:11", "0:13", "1:0", "1:1", "1:2", "2:5", "2:6", "2:7", "2:8"]
    assert all(b.num_rows <= 2 for b in batches) and consumer.assigned is None
