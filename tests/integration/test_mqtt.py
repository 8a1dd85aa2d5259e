"""The lite path over a real Mosquitto: counters reconcile, replays change nothing, a killed consumer loses
nothing the broker accepted (persistent session + acknowledgement after commit)."""

import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from ingestion.processor import LiteProcessor
from ingestion.simulator import FaultConfig, Simulator
from ingestion.transports.mqtt import MqttConfig, MqttConsumer, MqttPublisher
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.app import ROOT

START = time.time() - 3600  # an hour ago: timestamps are valid, none in the future


def stream(n_messages: int, seed: int = 3, **faults) -> list[bytes]:
    sim = Simulator(seed=seed, faults=FaultConfig(**faults), fmt="single")
    messages, t = [], START
    while len(messages) < n_messages:
        messages.extend(sim.tick(t))
        t += 1.0
    return messages[:n_messages]


def publish(port: int, messages: list[bytes]) -> None:
    publisher = MqttPublisher(MqttConfig(port=port), client_id=f"test-pub-{time.monotonic_ns()}")
    for message in messages:
        publisher.publish(message)
    publisher.close()


def consume_until(consumer: MqttConsumer, n_messages: int, timeout: float = 120) -> int:
    taken, deadline = 0, time.monotonic() + timeout
    while taken < n_messages and time.monotonic() < deadline:
        taken += consumer.poll(0.2)
    consumer.commit()
    return taken


def snapshot(conn) -> dict[str, list]:
    queries = {
        "sensor_data": "SELECT time, sensor_id, metric, value, status, ingested_at FROM sensor_data ORDER BY 2, 3, 1",
        "sensor_data_agg": "SELECT window_start, window_end, sensor_id, metric, avg, min, max, count, stddev, "
        "n_warning, n_critical, n_fault, updated_at FROM sensor_data_agg ORDER BY 3, 4, 1, 2",
        "sensor_latest": "SELECT * FROM sensor_latest ORDER BY 1, 2",
        "quarantine": "SELECT received_at, source, payload, reason, detail FROM quarantine ORDER BY quarantine_id",
    }
    with conn.cursor() as cur:
        result = {}
        for name, sql in queries.items():
            cur.execute(sql)
            result[name] = cur.fetchall()
    return result


def test_mixed_stream_reconciles_and_a_replay_changes_nothing(mqtt_port, db_url, conn):
    messages = stream(10_000, malformed_rate=0.05, duplicate_rate=0.02)
    rejected = sum(1 for m in messages if Validator(source="x").parse(m).rejections)
    assert 300 < rejected < 800  # the stream really is mixed: ~5 % malformed
    assert len(set(messages)) < len(messages) - 100  # ...with ~2 % duplicates
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="mqtt"))
        consumer = MqttConsumer(MqttConfig(port=mqtt_port, client_id="test-reconcile"), processor)
        consumer.start()
        publish(mqtt_port, messages)
        assert consume_until(consumer, len(messages)) == len(messages)
        counters = processor.counters
        assert counters.reconciles(), counters
        assert counters.received >= len(messages)
        assert counters.duplicates > 0 and counters.quarantined > 0
        first = snapshot(conn)
        assert len(first["sensor_data"]) == counters.stored
        assert len(first["quarantine"]) == counters.quarantined

        publish(mqtt_port, messages)  # the same stream again (replay / redelivery)
        assert consume_until(consumer, len(messages)) == len(messages)
        consumer.stop()
        assert processor.counters.reconciles()
    assert snapshot(conn) == first


def _count(db_url: str) -> int:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        return cur.fetchone()[0]


def _consumer(db_url: str, port: int, log_path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion",
            "--database-url",
            db_url,
            "consume",
            "--mqtt-port",
            str(port),
            "--client-id",
            "test-killed",
            "--alerts-every",
            "0",
            "--report-every",
            "1",
        ],
        cwd=ROOT,
        stdout=open(log_path, "w"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_killing_the_consumer_loses_nothing_the_broker_accepted(mqtt_port, db_url, output_dir):
    messages = stream(6_000, seed=11)
    expected = len({(r.sensor_id, r.metric, r.time) for m in messages for r in Validator(source="x").parse(m).readings})
    (output_dir / "logs").mkdir(exist_ok=True)
    log_path = output_dir / "logs" / "consumer-killed-1.log"
    consumer = _consumer(db_url, mqtt_port, log_path)
    try:
        _wait_for(lambda: "persistent session" in log_path.read_text(), 30, "consumer connected")
        publish(mqtt_port, messages[:3000])
        _wait_for(lambda: _count(db_url) > 0, 30, "first rows")
        consumer.send_signal(signal.SIGKILL)  # mid-stream: no flush, no acknowledgement, no goodbye
        consumer.wait(10)
        publish(mqtt_port, messages[3000:])  # accepted by the broker while nobody consumes
        assert _count(db_url) < expected
        consumer = _consumer(db_url, mqtt_port, output_dir / "logs" / "consumer-killed-2.log")
        _wait_for(lambda: _count(db_url) >= expected, 90, f"{expected} rows after restart")
        time.sleep(1.5)
        assert _count(db_url) == expected
    finally:
        consumer.terminate()
        consumer.wait(15)


@pytest.mark.parametrize("fmt", ["multi", "ngsi"])
def test_other_shapes_travel_over_mqtt(mqtt_port, db_url, conn, fmt):
    sim = Simulator(seed=5, fmt=fmt)
    messages = sim.tick(START) + sim.tick(START + 1)
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="mqtt"))
        consumer = MqttConsumer(MqttConfig(port=mqtt_port, client_id=f"test-{fmt}"), processor)
        consumer.start()
        publish(mqtt_port, messages)
        consume_until(consumer, len(messages))
        consumer.stop()
    assert processor.counters.quarantined == 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT sensor_id), count(*) FROM sensor_data")
        sensors, rows = cur.fetchone()
    assert sensors == len(sim.sensors) and rows == processor.counters.stored
