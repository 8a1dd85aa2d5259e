"""The Spark job on Kafka semantics, on a real broker: Tansu (tests/support/kafka.py), the job's Python Kafka source
(ingestion/spark/kafka_source.py, `--source kafka-python`), local Spark, real PostgreSQL. The connector's
`format("kafka")` cannot run here (its jar cannot be obtained); this source hands the job the same columns.

Reconciled with what the producer sent, read from the JSON it sent (not through the validator): the (sensor,
metric, time) set in sensor_data, the malformed messages in quarantine, every message counted once in the ledger,
across a graceful stop, a crash between the writes and Spark's commit, and a kill -9 of the whole job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from ingestion.kafka_producer import KafkaSink
from ingestion.simulator import Simulator
from tests.integration.test_spark_restart import uncommit
from tests.support.kafka import read_back, tansu
from tests.support.services import wait_for
from tests.support.spark import (
    assert_same_tables,
    batch_log,
    execute,
    local_spark,
    no_double_kpi,
    rows,
    run_lite,
    write_lines,
)

# Generous bounds: a JVM and its Python workers start in ~15 s on an idle host, in minutes on one loaded 10x over.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
START = time.time() - 3 * 3600  # hours ago: every timestamp valid, none in the future
MALFORMED = [b"{not json", b"[1, 2]", b'{"timestamp": "2026-06-01T00:00:00Z", "sensor_id": "nobody", "metric": '
             b'"pm10", "value": 1}']  # fmt: skip


@pytest.fixture(scope="module")
def spark():
    return local_spark(2)


@pytest.fixture
def broker(tmp_path):
    with tansu(tmp_path / "tansu") as running:
        yield running


def stream(ticks: int, first_tick: int = 0) -> list[bytes]:
    """Single-reading messages of the simulator (no fault), `ticks` seconds of the 60 sensors."""
    sim = Simulator(seed=5, fmt="single")
    return [m for k in range(first_tick, first_tick + ticks) for m in sim.tick(START + k)]


def sent_keys(messages: list[bytes]) -> set[tuple]:
    keys = set()
    for raw in messages:
        if raw in MALFORMED:
            continue
        m = json.loads(raw)
        when = datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")).timestamp()
        keys.add((m.get("sensor_id") or m["device_id"], m.get("metric") or m["type"], round(when * 1000)))
    return keys


def stored_keys(dsn: str) -> set[tuple]:
    found = rows(dsn, "SELECT sensor_id, metric, round(extract(epoch FROM time) * 1000) FROM sensor_data")
    return {(s, m, int(t)) for s, m, t in found}


def produce(bootstrap: str, messages: list[bytes], partitions: int = 3) -> None:
    with KafkaSink(bootstrap, "sensor_data", partitions=partitions) as sink:
        sink.send_batch(messages)


def reconcile(dsn: str, sent: list[bytes]) -> None:
    """Exactly once, against what the producer sent."""
    keys = sent_keys(sent)
    assert stored_keys(dsn) == keys and rows(dsn, "SELECT count(*) FROM sensor_data")[0][0] == len(keys)
    assert rows(dsn, "SELECT sum(received), sum(stored), sum(quarantined) FROM ingest_ledger") == [
        (len(sent), len(keys), len(MALFORMED))
    ]
    assert sorted(p.encode() for (p,) in rows(dsn, "SELECT payload FROM quarantine")) == sorted(MALFORMED)
    log = batch_log(dsn)
    assert [b[0] for b in log] == list(range(len(log))) and sum(b[1] for b in log) == len(sent)
    assert no_double_kpi(dsn)


def config(broker, dsn: str, checkpoint: Path, **overrides):
    from ingestion.spark.job import JobConfig

    settings = {"source": "kafka-python", "kafka_bootstrap": broker.bootstrap, "kafka_topic": "sensor_data",
                "checkpoint": str(checkpoint), "database_url": dsn, "trigger": "available-now", **overrides}  # fmt: skip
    return JobConfig(**settings)


def test_the_python_source_gives_the_records_as_the_broker_has_them(spark, broker, tmp_path):
    """key, value, topic, partition, offset, timestamp, headers: what a plain consumer reads, for every record."""
    from ingestion.spark.kafka_source import NAME, KafkaPythonSource
    from ingestion.spark.sources import KafkaConfig

    messages = stream(3)
    produce(broker.bootstrap, messages)
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("sensor_data", value=b"with headers", key=b"k", headers=[("broker_at", b"1795000000.25")])
    producer.flush(10)
    expected = read_back(broker.bootstrap, "sensor_data", len(messages) + 1)
    records = []
    spark.dataSource.register(KafkaPythonSource)
    raw = spark.readStream.format(NAME).options(**KafkaConfig(broker.bootstrap, "sensor_data").options())
    query = (
        raw.load()
        .writeStream.trigger(availableNow=True)
        .option("checkpointLocation", str(tmp_path / "ck"))
        .foreachBatch(lambda df, _: records.extend(df.collect()))
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None
    got = {(r.partition, r.offset): r for r in records}
    assert len(got) == len(records) == len(expected)
    for m in expected:
        r = got[(m.partition(), m.offset())]
        assert (r.key, r.value, r.topic) == (m.key(), m.value(), "sensor_data")
        assert (r.timestampType, round(r.timestamp.timestamp() * 1000)) == (m.timestamp()[0] - 1, m.timestamp()[1])
        assert (r.headers or None) == (None if not m.headers() else [(k, v) for k, v in m.headers()])


def test_stop_crash_and_restart_are_exactly_once(spark, broker, pg_cluster, tmp_path):
    from ingestion.spark.job import start, stop_gracefully

    dsn = pg_cluster.url(pg_cluster.fresh_database())
    first = stream(20) + MALFORMED
    produce(broker.bootstrap, first)
    checkpoint = tmp_path / "checkpoint"
    # 1. Several micro-batches (maxOffsetsPerTrigger), stopped gracefully after a few.
    query, sink = start(spark, config(broker, dsn, checkpoint, trigger="0 seconds", max_offsets_per_trigger=150))
    try:
        wait_for(lambda: query.exception() is not None or len(batch_log(dsn)) >= 3, 600, "three micro-batches")
        assert query.exception() is None, str(query.exception())
    finally:
        stop_gracefully(query, 30, sink)
        sink.close()
    done = len(batch_log(dsn))
    assert rows(dsn, "SELECT sum(received) FROM ingest_ledger")[0][0] < len(first), "stopped mid-stream"
    # 2. More messages meanwhile; and a crash after the last micro-batch's writes, before it was logged and
    # committed: replayed at the restart, its commits found in the ledger.
    second = stream(20, first_tick=20)
    produce(broker.bootstrap, second)
    uncommit(checkpoint, done - 1)
    execute(dsn, "DELETE FROM stream_batches WHERE batch_id = %s", (done - 1,))
    # 3. Restart from the checkpoint until the topic is read.
    from ingestion.spark.job import run_until_done

    query, totals = run_until_done(spark, config(broker, dsn, checkpoint, max_offsets_per_trigger=500), timeout=600)
    assert query.exception() is None and totals.replayed_commits >= 1
    reconcile(dsn, first + second)
    # The same tables as the lite processor on the same messages (windows included).
    lite = pg_cluster.url(pg_cluster.fresh_database())
    run_lite([write_lines(tmp_path / "lite", 0, first + second)], lite)
    assert_same_tables(lite, dsn)
    # The broker stage is measured from the record timestamp (the producer's send time), as by the lite consumer.
    stages = dict(rows(dsn, "SELECT stage, max(latency_ms) FROM pipeline_kpi GROUP BY stage"))
    assert stages["source_to_broker"] > 0 and stages["broker_to_processor"] > 0


def test_a_killed_job_restarts_from_its_checkpoint_exactly_once(broker, pg_cluster, tmp_path):
    dsn = pg_cluster.url(pg_cluster.fresh_database())
    sent = stream(25) + MALFORMED
    produce(broker.bootstrap, sent)
    command = [sys.executable, "-m", "ingestion", "spark", "run", "--source", "kafka-python", "--kafka-bootstrap",
               broker.bootstrap, "--checkpoint", str(tmp_path / "ck"), "--database-url", dsn, "--master", "local[2]",
               "--max-offsets-per-trigger", "300", "--conf", "spark.ui.enabled=false"]  # fmt: skip
    # One task per Kafka partition (not the one task a small micro-batch gets by default): concurrent commits.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOG_LEVEL": "ERROR", "KAFKA_OPTION_MINOFFSETSPERTASK": "1"}
    # The job in its own process group (driver, JVM, Python workers), killed as a whole with SIGKILL.
    log = open(tmp_path / "job.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*command, "--trigger", "0 seconds"], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or len(batch_log(dsn)) >= 2, 600, "two micro-batches", every=0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "job.log").read_text()[-3000:]
    assert rows(dsn, "SELECT sum(received) FROM ingest_ledger")[0][0] < len(sent), "killed mid-stream"
    restart = subprocess.run([*command, "--trigger", "available-now"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=600)  # fmt: skip
    assert restart.returncode == 0, restart.stdout[-3000:] + restart.stderr[-3000:]
    reconcile(dsn, sent)
