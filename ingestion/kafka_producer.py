"""Kafka producer of the scale-out path: simulator (or a gateway, or the MQTT bridge) -> Kafka topic -> the lite
Kafka consumer (ingestion/kafka_consumer.py) or the Spark job. Tested on a real broker (Tansu, tests/support/kafka.py);
topic layout and message format: docs/kafka.md.

Client: confluent-kafka (librdkafka, pinned in requirements-spark.txt). What it does:
- configuration from arguments and the environment: KAFKA_BOOTSTRAP_SERVERS (default localhost:9092),
  KAFKA_TOPIC (default sensor_data), KAFKA_CONNECT_TIMEOUT_S (default 10), and any librdkafka setting as
  KAFKA_PRODUCER_<NAME>=value with `_` turned into `.` (e.g. KAFKA_PRODUCER_SECURITY_PROTOCOL=SSL);
- durable defaults: acks=all, idempotent producer (no duplicates from the producer's own retries, order kept per
  partition), lz4 compression, a short linger to batch;
- the message value is the JSON message as the other transports carry it; the key is the sensor id (messages of
  one sensor stay in one partition, in order);
- `ensure_topic()` creates the topic with a chosen partition count (AdminClient) when it does not exist;
- at start, a metadata request to the broker: no broker reachable within the timeout is a ConnectionError that
  names the address, instead of messages queued forever;
- delivery callbacks count what the broker acknowledged and keep the first errors; `flush()` waits for every
  outstanding message and raises KafkaDeliveryError if any was not delivered, so `close()` never hides a loss
  (`simulate` flushes on SIGTERM / Ctrl-C and prints how many the broker acknowledged).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_TOPIC = "sensor_data"
DEFAULT_CONNECT_TIMEOUT_S = 10.0

# librdkafka settings of the producer (overridable through `config` / KAFKA_PRODUCER_*).
DEFAULTS = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "message.timeout.ms": 120_000,
    "client.id": "madinina-producer",
}


class KafkaDeliveryError(RuntimeError):
    """Some messages were not acknowledged by the broker."""


def _sensor_key(message: bytes) -> bytes | None:
    """Partition key: the message's sensor id (sensor_id, device_id, or the last part of an NGSI-LD id)."""
    try:
        parsed = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None  # a malformed message still travels: the processor quarantines it
    if not isinstance(parsed, dict):
        return None
    for key in ("sensor_id", "device_id", "id"):
        value = parsed.get(key)
        if isinstance(value, str) and value:
            return value.rsplit(":", 1)[-1].encode()
    return None


def _security(config: Mapping[str, object] | None) -> dict[str, object]:
    """The connection settings of a producer configuration that an admin or consumer client needs as well."""
    return {k: v for k, v in (config or {}).items() if k.split(".")[0] in ("security", "sasl", "ssl")}


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, *, config: Mapping[str, object] | None = None, timeout: float = 15.0
) -> int:
    """Create `topic` with `partitions` partitions unless it exists; returns the partition count it has. An
    existing topic is left as it is (adding partitions would move keys to other partitions: an operator's call)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **_security(config)})
    existing = admin.list_topics(timeout=timeout).topics.get(topic)
    if existing is None or existing.error is not None:
        future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)])[topic]
        try:
            future.result(timeout)
            log.info("kafka topic %s created with %d partitions", topic, partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # created meanwhile by another producer
                raise
    have = len(admin.list_topics(topic, timeout=timeout).topics[topic].partitions)
    if have != partitions:
        log.warning("kafka topic %s has %d partitions (asked for %d): left as it is", topic, have, partitions)
    return have


def producer_config(bootstrap: str, overrides: Mapping[str, object] | None = None) -> dict[str, object]:
    return {**DEFAULTS, "bootstrap.servers": bootstrap, **(overrides or {})}


def env_overrides(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """KAFKA_PRODUCER_<NAME>=value -> {"<name>": value}, `_` -> `.` (librdkafka names are dotted, lower case)."""
    prefix = "KAFKA_PRODUCER_"
    return {key[len(prefix) :].lower().replace("_", "."): value for key, value in env.items() if key.startswith(prefix)}


class KafkaSink:
    """Send JSON messages to one topic. `send_batch` is asynchronous; `flush` / `close` wait for the broker."""

    def __init__(
        self,
        bootstrap: str = DEFAULT_BOOTSTRAP,
        topic: str = DEFAULT_TOPIC,
        *,
        config: Mapping[str, object] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        check_connection: bool = True,
        partitions: int | None = None,
    ):
        from confluent_kafka import KafkaException, Producer

        self.bootstrap = bootstrap
        self.topic = topic
        self.config = producer_config(bootstrap, config)
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []
        # librdkafka's own log lines go through Python logging (served by poll/flush), not straight to stderr.
        self._producer = Producer({**self.config, "logger": log})
        if check_connection:
            try:
                # A metadata request: answers only if a broker is reachable (and says whether the topic exists).
                self._producer.list_topics(timeout=connect_timeout)
            except KafkaException as exc:
                self._producer = None
                raise ConnectionError(
                    f"no Kafka broker reachable at {bootstrap} within {connect_timeout:g}s ({exc.args[0].str()}); "
                    "start one (deploy/README.md) or set KAFKA_BOOTSTRAP_SERVERS / --kafka-bootstrap"
                ) from None
            if partitions:
                ensure_topic(bootstrap, topic, partitions, config=config, timeout=connect_timeout)

    @classmethod
    def from_env(
        cls, *, bootstrap: str | None = None, topic: str | None = None, env: Mapping[str, str] = os.environ, **kwargs
    ) -> KafkaSink:
        """Arguments win over the environment, the environment over the defaults."""
        return cls(
            bootstrap or env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP,
            topic or env.get("KAFKA_TOPIC") or DEFAULT_TOPIC,
            config={**env_overrides(env), **kwargs.pop("config", {})},
            connect_timeout=float(env.get("KAFKA_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S)),
            **kwargs,
        )

    # -- delivery ---------------------------------------------------------------------------------------------
    def _on_delivery(self, error, _message) -> None:
        """Called from poll()/flush() on this thread, once per message: acknowledged, or failed for good."""
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if len(self.errors) < 10:
            self.errors.append(error.str())
        log.error("kafka delivery failed: %s", error.str())

    def send_batch(self, messages: Iterable[bytes]) -> int:
        """Queue messages for the topic; returns how many were queued. Delivery reports arrive through poll()."""
        if self._producer is None:
            raise RuntimeError("the Kafka sink is closed")
        queued = 0
        for message in messages:
            while True:
                try:
                    self._producer.produce(
                        self.topic, value=message, key=_sensor_key(message), on_delivery=self._on_delivery
                    )
                    break
                except BufferError:  # local queue full: let librdkafka send, then retry
                    self._producer.poll(0.5)
            queued += 1
        self._producer.poll(0)  # serve delivery callbacks of earlier messages
        return queued

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued message is acknowledged or failed; raise if any was not delivered."""
        if self._producer is None:
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            raise KafkaDeliveryError(f"{remaining} messages still undelivered after {timeout:g}s ({self.bootstrap})")
        if self.failed:
            raise KafkaDeliveryError(
                f"{self.failed} of {self.failed + self.delivered} messages not delivered to {self.topic} at "
                f"{self.bootstrap}: {'; '.join(self.errors[:3])}"
            )

    def close(self, timeout: float = 60.0) -> None:
        try:
            self.flush(timeout)
        finally:
            self._producer = None

    def close_and_report(self, timeout: float = 60.0) -> None:
        """close(), then say what the broker acknowledged (the count a reader can reconcile against)."""
        try:
            self.close(timeout)
        finally:
            print(f"kafka: {self.delivered:,} messages delivered to {self.topic}, {self.failed:,} failed", flush=True)

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
