"""The MQTT -> Kafka bridge with a real Mosquitto and a real Kafka-protocol broker (Tansu): every message published
arrives in Kafka keyed by its sensor and stamped with the broker-receipt time, and the whole chain into the database
measures source_to_broker and broker_to_processor; a Kafka outage is held in MQTT (no acknowledgement), even when
the bridge is SIGKILLed during it. Reconciled against what the publisher sent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import psycopg2

from ingestion.catalogue import METRICS
from ingestion.kafka_consumer import KafkaConsumerConfig, KafkaIngestConsumer
from ingestion.kafka_producer import ensure_topic
from ingestion.processor import LiteProcessor
from ingestion.registry import CatalogueWatcher
from ingestion.service import SpooledIngest
from ingestion.simulator import Simulator
from ingestion.spool import Spool
from ingestion.transports.bridge import BridgeConfig, MqttKafkaBridge
from ingestion.transports.mqtt import MqttConfig, MqttPublisher
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.app import ROOT
from tests.support.kafka import read_back

TOPIC = "bridged"


def publish(port: int, messages: list[bytes]) -> None:
    publisher = MqttPublisher(MqttConfig(port=port), client_id=f"test-pub-{time.monotonic_ns()}")
    for message in messages:
        publisher.publish(message)
    publisher.close()


def sid(message: bytes) -> bytes:
    parsed = json.loads(message)
    return (parsed.get("sensor_id") or parsed.get("device_id")).encode()


def test_chain_mqtt_bridge_kafka_consumer_database_measures_every_stage(mqtt_port, kafka_broker, db_url, tmp_path):
    ensure_topic(kafka_broker.bootstrap, TOPIC, 3)
    bridge = MqttKafkaBridge(
        MqttConfig(port=mqtt_port, client_id="test-bridge"), BridgeConfig(kafka_broker.bootstrap, TOPIC)
    )
    bridge.start()
    stop = threading.Event()
    processor = LiteProcessor(Writer(db_url, retries=None, stop=stop), Validator(source="kafka"), max_delay_s=0.1)
    ingest = SpooledIngest(
        Spool(tmp_path / "spool"), processor, name="t", catalogue=CatalogueWatcher(db_url), stop=stop
    )
    consumer = KafkaIngestConsumer(KafkaConsumerConfig(kafka_broker.bootstrap, TOPIC, "chain"), ingest)
    consumer.start()
    ingest.start()
    sim = Simulator(seed=4, fmt="multi")
    sent: list[bytes] = []
    try:
        for _ in range(5):  # five ticks of the network, each stamped now and published at once
            batch = sim.tick(time.time())
            publish(mqtt_port, batch)
            sent.extend(batch)
        deadline = time.monotonic() + 60
        while bridge.acknowledged < len(sent) or processor.totals.received < len(sent):
            assert time.monotonic() < deadline, (bridge.acknowledged, processor.totals.received)
            bridge.poll(0.05)
            consumer.poll(0.05)
    finally:
        stop.set()
        ingest.join(10)
        ingest.finish()
        consumer.close()
        bridge.stop()
    assert bridge.forwarded == bridge.acknowledged == len(sent)
    got = read_back(kafka_broker.bootstrap, TOPIC, len(sent))
    assert sorted(m.value() for m in got) == sorted(sent)  # each message, once, as published
    for m in got:
        headers = dict(m.headers())
        assert m.key() == sid(m.value())
        assert headers["mqtt_topic"].decode().endswith(sid(m.value()).decode())
        sent_at = json.loads(m.value())["sent_at"]
        assert sent_at <= float(headers["broker_at"]) < sent_at + 30  # after it was sent, not long after
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT count(DISTINCT sensor_id), count(*) FROM sensor_data")
        # one reading per metric field of each record (the catalogue's metric names: a definition, not arithmetic)
        assert cur.fetchone() == (len(sim.sensors), sum(len(set(json.loads(m)) & set(METRICS)) for m in sent))
        cur.execute("SELECT stage, min(latency_ms), max(latency_ms) FROM pipeline_kpi GROUP BY stage")
        stages = {stage: (lo, hi) for stage, lo, hi in cur.fetchall()}
    for stage in ("source_to_broker", "broker_to_processor", "processor_to_db", "end_to_end"):
        lo, hi = stages[stage]
        assert 0 < lo <= hi < 30_000, (stage, lo, hi)  # measured, non-zero and plausible (ms)


def _bridge_process(mqtt_port: int, bootstrap: str, log_path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ingestion", "bridge", "--mqtt-port", str(mqtt_port), "--client-id", "test-outage",
           "--kafka-bootstrap", bootstrap, "--kafka-topic", TOPIC, "--report-every", "1"]  # fmt: skip
    with open(log_path, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout: float, what: str, log_path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)  # polling an outside condition (a log line), bounded by the deadline


def test_a_kafka_outage_is_held_in_mqtt_even_across_a_bridge_sigkill(mqtt_port, kafka_broker, tmp_path):
    broker = kafka_broker
    ensure_topic(broker.bootstrap, TOPIC, 2)
    sim = Simulator(seed=8, fmt="single")
    start = time.time() - 600
    ticks = [sim.tick(start + k) for k in range(9)]
    a, b1, b2 = sum(ticks[:3], []), sum(ticks[3:6], []), sum(ticks[6:], [])
    log1 = tmp_path / "bridge-1.log"
    bridge = _bridge_process(mqtt_port, broker.bootstrap, log1)
    try:
        _wait_for(lambda: "persistent session" in log1.read_text(), 30, "bridge connected", log1)
        publish(mqtt_port, a)
        assert sorted(m.value() for m in read_back(broker.bootstrap, TOPIC, len(a))) == sorted(a)

        broker.stop()  # Kafka away (memory storage: this life's messages are gone with it)
        publish(mqtt_port, b1)  # accepted by Mosquitto, cannot reach Kafka
        _wait_for(lambda: "holding MQTT acknowledgements" in log1.read_text(), 30, "acks held", log1)
        broker.start()  # back, empty
        ensure_topic(broker.bootstrap, TOPIC, 2)
        got = read_back(broker.bootstrap, TOPIC, len(b1), timeout=90)
        assert {m.value() for m in got} == set(b1)  # the bridge rode out the outage: every held message arrived

        broker.stop()
        publish(mqtt_port, b2)
        _wait_for(lambda: log1.read_text().count("holding MQTT acknowledgements") >= 2, 30, "acks held", log1)
        bridge.send_signal(signal.SIGKILL)  # what it holds in memory is gone; MQTT has not seen an ack for it
        bridge.wait(10)
        broker.start()
        ensure_topic(broker.bootstrap, TOPIC, 2)
        log2 = tmp_path / "bridge-2.log"
        bridge = _bridge_process(mqtt_port, broker.bootstrap, log2)  # same client id: same MQTT session
        got = read_back(broker.bootstrap, TOPIC, len(b2), timeout=90)
        assert {m.value() for m in got} == set(b2)  # redelivered by Mosquitto, forwarded by the new bridge
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(60)
        finally:
            if bridge.poll() is None:
                bridge.kill()
