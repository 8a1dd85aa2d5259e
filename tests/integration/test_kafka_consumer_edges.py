"""The lite Kafka consumer's edges, in process, on Tansu and PostgreSQL: a full spool pauses the partitions and
loses nothing; a member whose database is slow past the revoke timeout gives its partitions up, and what it
commits afterwards moves no offset of partitions it no longer owns (per-assignment epochs) — the group still ends
at the end of every partition with each reading stored once."""

from __future__ import annotations

import threading
import time

from ingestion.kafka_consumer import KafkaConsumerConfig, KafkaIngestConsumer
from ingestion.kafka_producer import ensure_topic
from ingestion.processor import LiteProcessor
from ingestion.registry import CatalogueWatcher
from ingestion.service import SpooledIngest
from ingestion.spool import Spool
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.integration.test_kafka_consumer import TOPIC, ends, ledger, produce, sent_keys, stored_keys, stream
from tests.support.kafka import committed


def ingest_for(db_url, spool_dir, stop, **spool_kw) -> SpooledIngest:
    processor = LiteProcessor(Writer(db_url, retries=None, stop=stop), Validator(source="kafka"), max_delay_s=0.1)
    return SpooledIngest(Spool(spool_dir, **spool_kw), processor, name=spool_dir.name,
                         catalogue=CatalogueWatcher(db_url), stop=stop)  # fmt: skip


def until(predicate, timeout: float, what: str, *consumers: KafkaIngestConsumer) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for consumer in consumers:
            consumer.poll(0.05)


def test_a_full_spool_pauses_the_partitions_and_loses_nothing(kafka_broker, db_url, tmp_path):
    ensure_topic(kafka_broker.bootstrap, TOPIC, 2)
    messages = stream(3_000, seed=21)
    produce(kafka_broker.bootstrap, messages)
    stop = threading.Event()
    ingest = ingest_for(db_url, tmp_path / "small", stop, max_bytes=60_000)  # room for ~250 messages
    consumer = KafkaIngestConsumer(KafkaConsumerConfig(kafka_broker.bootstrap, TOPIC, "small"), ingest)
    consumer.start()
    try:
        until(lambda: consumer.held > 0, 60, "the spool to fill", consumer)  # no drain yet: it fills
        assert ingest.spool.depth < len(messages) and consumer._paused
        assert committed(kafka_broker.bootstrap, TOPIC, "small") == {0: -1001, 1: -1001}  # nothing in the db
        ingest.start()  # the database drains the spool; the partitions resume
        end = ends(kafka_broker.bootstrap, len(messages))
        until(lambda: consumer.commit() == 0 and consumer._in_kafka == {(TOPIC, p): o for p, o in end.items()},
              120, "every offset committed", consumer)  # fmt: skip
    finally:
        stop.set()
        ingest.join(10)
        ingest.finish()
        consumer.close()
    assert stored_keys(db_url) == sent_keys(messages)
    assert ledger(db_url)["stored"] == len(messages)
    assert committed(kafka_broker.bootstrap, TOPIC, "small") == end


def test_a_slow_member_gives_up_its_partitions_without_moving_their_offsets_later(kafka_broker, db_url, tmp_path):
    bootstrap = kafka_broker.bootstrap
    ensure_topic(bootstrap, TOPIC, 2)
    messages = stream(4_000, seed=22)
    produce(bootstrap, messages)
    end = ends(bootstrap, len(messages))
    stop_a, stop_b = threading.Event(), threading.Event()
    ingest_a = ingest_for(db_url, tmp_path / "a", stop_a)
    a = KafkaIngestConsumer(KafkaConsumerConfig(bootstrap, TOPIC, "slow", revoke_timeout_s=1.0), ingest_a)
    a.start()
    until(lambda: ingest_a.spool.depth == len(messages), 60, "a spooled everything", a)  # a's drain is "slow": off
    ingest_b = ingest_for(db_url, tmp_path / "b", stop_b)
    b = KafkaIngestConsumer(KafkaConsumerConfig(bootstrap, TOPIC, "slow"), ingest_b)
    b.start()
    ingest_b.start()
    try:
        # b joins; a's revoke waits 1 s for its database, gives up, commits nothing; b reads its share from the start.
        until(lambda: len(a.assignments) >= 2 and len(b.assignments) >= 1, 60, "the rebalance", a, b)
        mine_b = set(b.assignments[-1])
        assert mine_b and mine_b != set(end) and set(a.assignments[-1]) == set(end) - mine_b
        of_b = lambda: {p: o for p, o in committed(bootstrap, TOPIC, "slow").items() if p in mine_b}  # noqa: E731
        until(lambda: of_b() == {p: end[p] for p in mine_b}, 120, "b committed its partitions", a, b)
        ingest_a.start()  # a's database is back: it writes its old entries (b's partitions too), idempotently
        until(lambda: ingest_a.spool.depth == 0 and committed(bootstrap, TOPIC, "slow") == end, 120, "a done", a, b)
        assert of_b() == {p: end[p] for p in mine_b}  # a's stale entries moved none of b's offsets
        assert b.assignments[-1] == sorted(mine_b)  # no further rebalance muddled the picture
    finally:
        stop_a.set()
        stop_b.set()
        for ingest in (ingest_a, ingest_b):
            ingest.join(10)
            ingest.finish()
        a.close()
        b.close()
    assert stored_keys(db_url) == sent_keys(messages)
    totals = ledger(db_url)
    assert totals["stored"] == len(messages) and totals["received"] == totals["stored"] + totals["duplicates"]
