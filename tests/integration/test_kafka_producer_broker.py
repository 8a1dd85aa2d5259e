"""The producer on a real Kafka-protocol broker (Tansu): topic created with the partition count asked for,
every message delivered and read back, one sensor's messages in one partition in the order sent, and a SIGTERM
of `simulate --transport kafka` flushes: what a reader finds equals what the producer reported delivered."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

from ingestion.kafka_producer import KafkaSink, ensure_topic
from ingestion.simulator import Simulator
from tests.support.app import ROOT
from tests.support.kafka import read_back

START = time.time() - 3600


def _sid(message: bytes) -> bytes:
    parsed = json.loads(message)
    return (parsed.get("device_id") or parsed["sensor_id"]).encode()


def test_topic_partitions_delivery_and_per_sensor_order(kafka_broker):
    assert ensure_topic(kafka_broker.bootstrap, "ordered", 4) == 4
    assert ensure_topic(kafka_broker.bootstrap, "ordered", 8) == 4  # exists: left as it is
    sim = Simulator(seed=7, fmt="single")
    messages = [m for t in range(20) for m in sim.tick(START + t)]
    with KafkaSink(kafka_broker.bootstrap, "ordered") as sink:
        sink.send_batch(messages)
        sink.flush()
        assert (sink.delivered, sink.failed) == (len(messages), 0)
    got = read_back(kafka_broker.bootstrap, "ordered", len(messages))
    assert sorted(m.value() for m in got) == sorted(messages)  # each message exactly once
    assert len({(m.partition(), m.offset()) for m in got}) == len(messages)  # each at its own offset
    by_sensor: dict[bytes, set[int]] = {}
    for m in got:
        by_sensor.setdefault(m.key(), set()).add(m.partition())
    assert all(len(parts) == 1 for parts in by_sensor.values())  # one sensor -> one partition
    assert len({p for parts in by_sensor.values() for p in parts}) > 1  # ...and the sensors are spread
    for key in by_sensor:
        sent = [m for m in messages if _sid(m) == key]
        read = sorted((m for m in got if m.key() == key), key=lambda m: m.offset())
        assert [m.value() for m in read] == sent  # in the order sent


def test_sigterm_of_simulate_flushes_what_it_reports_delivered(kafka_broker, tmp_path):
    log_path = tmp_path / "simulate.log"
    cmd = [sys.executable, "-m", "ingestion", "simulate", "--transport", "kafka", "--kafka-bootstrap",
           kafka_broker.bootstrap, "--kafka-topic", "sim", "--kafka-partitions", "3", "--rate", "20",
           "--format", "single"]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "simulate:" not in log_path.read_text():  # a progress line: it has been sending for 10 ticks
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log_path.read_text()
    delivered = int(re.search(r"kafka: ([\d,]+) messages delivered to sim, 0 failed", text)[1].replace(",", ""))
    sent = int(re.search(r"simulate done: [\d,]+ ticks, ([\d,]+) messages", text)[1].replace(",", ""))
    assert delivered == sent and delivered > 2000
    assert len(read_back(kafka_broker.bootstrap, "sim", delivered)) == delivered
