"""The Kafka producer without a broker (on a real one: tests/integration/test_kafka_producer_broker.py):
configuration, the clear error when no broker answers, delivery callbacks reporting undelivered messages, and the
CLI's message. Real librdkafka."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestion.kafka_producer import DEFAULTS, KafkaDeliveryError, KafkaSink, _sensor_key, env_overrides
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def dead_address() -> str:
    return f"127.0.0.1:{free_port()}"  # a free port: nothing listens there


def test_configuration_from_arguments_environment_and_defaults():
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
        "KAFKA_TOPIC": "readings",
        "KAFKA_CONNECT_TIMEOUT_S": "3",
        "KAFKA_PRODUCER_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_PRODUCER_LINGER_MS": "50",
        "UNRELATED": "x",
    }
    assert env_overrides(env) == {"security.protocol": "PLAINTEXT", "linger.ms": "50"}
    sink = KafkaSink.from_env(env=env, check_connection=False)
    assert (sink.bootstrap, sink.topic) == ("kafka-1:9092,kafka-2:9092", "readings")
    assert sink.config["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"
    assert sink.config["acks"] == "all" and sink.config["enable.idempotence"] is True
    assert sink.config["linger.ms"] == "50" and sink.config["security.protocol"] == "PLAINTEXT"
    sink.close(timeout=1)  # nothing queued: nothing to wait for
    # Arguments win over the environment; defaults fill the rest.
    sink = KafkaSink.from_env(bootstrap="b:1", topic="t", env={}, check_connection=False)
    assert (sink.bootstrap, sink.topic, sink.config["compression.type"]) == ("b:1", "t", DEFAULTS["compression.type"])
    sink.close(timeout=1)


def test_partition_key_is_the_sensor_id():
    assert _sensor_key(b'{"sensor_id": "fdf-aq-01", "value": 1}') == b"fdf-aq-01"
    assert _sensor_key(b'{"device_id": "d-7"}') == b"d-7"
    assert _sensor_key(b'{"id": "urn:ngsi-ld:AirQualityObserved:fdf-aq-01"}') == b"fdf-aq-01"
    assert _sensor_key(b"{not json") is None and _sensor_key(b"[1, 2]") is None


def test_no_broker_is_a_clear_error_within_the_timeout():
    address = dead_address()
    started = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        KafkaSink(address, connect_timeout=2)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"no Kafka broker reachable at {address} within 2s" in message and "KAFKA_BOOTSTRAP_SERVERS" in message


def test_undelivered_messages_are_reported_by_the_delivery_callbacks():
    sink = KafkaSink(dead_address(), check_connection=False, config={"message.timeout.ms": 1500})
    assert sink.send_batch([b'{"sensor_id": "x", "metric": "noise", "value": 1}', b"malformed"]) == 2
    started = time.monotonic()
    with pytest.raises(KafkaDeliveryError) as info:
        sink.close(timeout=20)
    assert time.monotonic() - started < 15
    assert (sink.delivered, sink.failed) == (0, 2)
    assert "2 of 2 messages not delivered to sensor_data" in str(info.value) and "timed out" in str(info.value)
    with pytest.raises(RuntimeError, match="closed"):
        sink.send_batch([b"{}"])


def test_cli_simulate_to_kafka_without_a_broker_fails_clearly():
    address = dead_address()
    result = subprocess.run(
        [sys.executable, "-m", "ingestion", "simulate", "--transport", "kafka", "--kafka-bootstrap", address,
         "--ticks", "1", "--start", "1793000000"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "KAFKA_CONNECT_TIMEOUT_S": "2"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: no Kafka broker reachable at {address}" in result.stderr
