"""The lite path over a real Mosquitto: what the database holds is what was sent, replays change nothing, a
killed consumer loses nothing the broker accepted (persistent session + acknowledgement once spooled)."""

import signal
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from ingestion.processor import LiteProcessor
from ingestion.registry import CatalogueWatcher
from ingestion.service import SpooledIngest
from ingestion.simulator import FaultConfig, Simulator
from ingestion.spool import Spool
from ingestion.transports.mqtt import MqttConfig, MqttConsumer, MqttPublisher
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.app import ROOT
from tests.support.services import wait_for

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


def spooled(db_url: str, spool_dir, source: str = "mqtt") -> SpooledIngest:
    stop = threading.Event()
    writer = Writer(db_url, retries=None, stop=stop)
    processor = LiteProcessor(writer, Validator(source=source))
    return SpooledIngest(Spool(spool_dir), processor, name="test", catalogue=CatalogueWatcher(db_url), stop=stop)


def consume_until(consumer: MqttConsumer, n_messages: int, timeout: float = 120) -> int:
    """Take n_messages from the broker into the spool, then drain the spool into the database."""
    taken, deadline = 0, time.monotonic() + timeout
    while taken < n_messages and time.monotonic() < deadline:
        taken += consumer.poll(0.2)
    while consumer.ingest.drain_once():
        pass
    return taken


def sent_readings(messages: list[bytes]) -> set[tuple]:
    """(sensor_id, metric, time) of every valid reading the sender put in its messages."""
    return {
        (r.sensor_id, r.metric, round(r.time, 6)) for m in messages for r in Validator(source="x").parse(m).readings
    }


def ledger_totals(conn) -> tuple[int, int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT sum(received), sum(stored), sum(quarantined) FROM ingest_ledger")
        return tuple(int(v or 0) for v in cur.fetchone())


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


def test_mixed_stream_is_stored_as_sent_and_a_replay_changes_nothing(mqtt_port, db_url, conn, tmp_path):
    messages = stream(10_000, malformed_rate=0.05, duplicate_rate=0.02)
    rejected = {m for m in messages if Validator(source="x").parse(m).rejections}
    assert 300 < len(rejected) < 800  # the stream really is mixed: ~5 % malformed
    assert len(set(messages)) < len(messages) - 100  # ...with ~2 % duplicates
    expected = sent_readings(messages)
    ingest = spooled(db_url, tmp_path / "spool")
    consumer = MqttConsumer(MqttConfig(port=mqtt_port, client_id="test-reconcile"), ingest)
    consumer.start()
    publish(mqtt_port, messages)
    assert consume_until(consumer, len(messages)) == len(messages)
    first = snapshot(conn)
    stored = {(sid, metric, round(t.timestamp(), 6)) for t, sid, metric, *_ in first["sensor_data"]}
    assert stored == expected  # every valid reading sent, once
    assert {payload for _, _, payload, _, _ in first["quarantine"]} >= {m.decode() for m in rejected}
    received, n_stored, quarantined = ledger_totals(conn)
    assert received == len(messages)  # the ledger counted every message the sender sent
    assert n_stored == len(expected) and quarantined == len(first["quarantine"])

    publish(mqtt_port, messages)  # the same stream again (replay / redelivery)
    assert consume_until(consumer, len(messages)) == len(messages)
    consumer.stop()
    assert snapshot(conn) == first
    assert ledger_totals(conn) == (2 * len(messages), len(expected), quarantined)


def _count(db_url: str) -> int:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        return cur.fetchone()[0]


def _consumer(db_url: str, port: int, log_path, spool_dir) -> subprocess.Popen:
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
            "--spool-dir",
            str(spool_dir),
        ],
        cwd=ROOT,
        stdout=open(log_path, "w"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
    )


def test_killing_the_consumer_loses_nothing_the_broker_accepted(mqtt_port, db_url, output_dir, tmp_path):
    messages = stream(6_000, seed=11)
    expected = len({(r.sensor_id, r.metric, r.time) for m in messages for r in Validator(source="x").parse(m).readings})
    (output_dir / "logs").mkdir(exist_ok=True)
    log_path = output_dir / "logs" / "consumer-killed-1.log"
    consumer = _consumer(db_url, mqtt_port, log_path, tmp_path / "spool")
    try:
        wait_for(lambda: "persistent session" in log_path.read_text(), 30, "consumer connected")
        publish(mqtt_port, messages[:3000])
        wait_for(lambda: _count(db_url) > 0, 30, "first rows")
        consumer.send_signal(signal.SIGKILL)  # mid-stream: no flush, no acknowledgement, no goodbye
        consumer.wait(10)
        publish(mqtt_port, messages[3000:])  # accepted by the broker while nobody consumes
        assert _count(db_url) < expected
        consumer = _consumer(db_url, mqtt_port, output_dir / "logs" / "consumer-killed-2.log", tmp_path / "spool")
        wait_for(lambda: _count(db_url) >= expected, 90, f"{expected} rows after restart")
        time.sleep(1.5)
        assert _count(db_url) == expected
    finally:
        consumer.terminate()
        consumer.wait(15)


@pytest.mark.parametrize("fmt", ["multi", "ngsi"])
def test_other_shapes_travel_over_mqtt(mqtt_port, db_url, conn, fmt, tmp_path):
    sim = Simulator(seed=5, fmt=fmt)
    messages = sim.tick(START) + sim.tick(START + 1)
    consumer = MqttConsumer(MqttConfig(port=mqtt_port, client_id=f"test-{fmt}"), spooled(db_url, tmp_path / "spool"))
    consumer.start()
    publish(mqtt_port, messages)
    consume_until(consumer, len(messages))
    consumer.stop()
    with conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT sensor_id), count(*), (SELECT count(*) FROM quarantine) FROM sensor_data")
        sensors, rows, quarantined = cur.fetchone()
    assert (sensors, rows, quarantined) == (len(sim.sensors), len(sent_readings(messages)), 0)
