"""MQTT -> Kafka bridge (seed 003's chain: sensors -> MQTT -> Kafka -> processors), `python -m ingestion bridge`.

- Subscribes QoS 1 with a persistent session (fixed client id, clean_session=False) and manual acknowledgements,
  like the MQTT consumer (transports/mqtt.py).
- Produces each message to Kafka (acks=all, one request in flight per connection: order kept), key = the sensor id (one
  sensor stays ordered within a partition), and two headers: `broker_at` (epoch seconds, as text: when the MQTT
  broker delivered the message to the bridge — the broker-receipt time; pipeline_kpi's source_to_broker and
  broker_to_processor are measured from it) and `mqtt_topic`.
- Acknowledges a message to MQTT (PUBACK, in the order received, as MQTT requires) only after Kafka confirmed its
  delivery. While Kafka is away, librdkafka retries without a deadline (message.timeout.ms=0) and nothing is
  acknowledged: the MQTT broker keeps the messages (its shipped configuration bounds inflight and queues them), and
  a bridge killed meanwhile gets them again from its persistent session. Repeats are absorbed by the idempotent
  sink downstream.
- A message Kafka refuses for good is not dropped: too large for the topic, it is forwarded cut to just over the
  validator's 64 KiB bound (the processor quarantines it as payload_too_large with its beginning); a fatal
  producer error rebuilds the producer and sends again everything not yet confirmed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from ingestion.decoding import MAX_PAYLOAD_BYTES
from ingestion.kafka_producer import _sensor_key, producer_config
from ingestion.transports.mqtt import MqttConfig, add_mqtt_args, mqtt_config, new_client

log = logging.getLogger(__name__)


@dataclass
class _Record:
    message: mqtt.MQTTMessage
    generation: int
    broker_at: float
    payload: bytes
    delivered: bool = False
    attempts: int = 0


@dataclass
class BridgeConfig:
    bootstrap: str = "localhost:9092"
    topic: str = "sensor_data"
    max_pending: int = 100_000  # produced, not yet confirmed by Kafka (= not yet acknowledged to MQTT)
    producer: dict = field(default_factory=dict)


class MqttKafkaBridge:
    def __init__(self, mqtt_config: MqttConfig, config: BridgeConfig, *, clock=time.time):
        self.mqtt_config = mqtt_config
        self.config = config
        self.clock = clock
        self.forwarded = 0  # confirmed by Kafka
        self.acknowledged = 0  # PUBACKs sent
        self._inbox: queue.Queue[tuple[mqtt.MQTTMessage, int, float]] = queue.Queue()
        self._pending: deque[_Record] = deque()  # in MQTT arrival order
        self._retry: deque[_Record] = deque()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self._kafka_waiting_since: float | None = None
        self._producer = self._new_producer()
        self.client = new_client(mqtt_config, client_id=mqtt_config.client_id, clean_session=False, manual_ack=True)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self._inbox.put((msg, self._generation, self.clock()))
        self.client.on_subscribe = lambda *_a: self._connected.set()
        self.client.on_disconnect = self._on_disconnect

    def _new_producer(self):
        from confluent_kafka import Producer

        # Not the idempotent producer: with no delivery deadline, a broker that lost the producer's id (a Kafka
        # restored from scratch; Tansu's memory storage on every restart) wedges it for good, the messages never
        # leave (measured on Tansu). One request in flight keeps each partition in order across retries instead;
        # a retry may duplicate a message, as an MQTT redelivery may: the idempotent sink absorbs both.
        settings = {
            "message.timeout.ms": 0,
            "enable.idempotence": False,
            "max.in.flight.requests.per.connection": 1,
            "client.id": "madinina-bridge",
            **self.config.producer,
        }
        return Producer({**producer_config(self.config.bootstrap, settings), "logger": log})

    # -- MQTT side (paho's thread for the callbacks) -------------------------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        client.subscribe(self.mqtt_config.topic, qos=self.mqtt_config.qos)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        if self._connected.is_set():
            log.warning("MQTT broker connection lost (%s); reconnecting (the session keeps our messages)", reason_code)
        self._connected.clear()
        with self._ack_lock:  # ids of the dead connection must never acknowledge messages of the next one
            self._generation += 1

    def start(self, timeout: float = 15.0) -> None:
        self.client.connect(self.mqtt_config.host, self.mqtt_config.port, self.mqtt_config.keepalive)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise ConnectionError(
                f"no MQTT connection to {self.mqtt_config.host}:{self.mqtt_config.port} in {timeout}s"
            )

    # -- Kafka side (this thread) ----------------------------------------------------------------------------------
    def _produce(self, record: _Record) -> bool:
        headers = {"broker_at": f"{record.broker_at:.6f}", "mqtt_topic": record.message.topic}
        try:
            self._producer.produce(
                self.config.topic,
                value=record.payload,
                key=_sensor_key(record.payload),
                headers=headers,
                on_delivery=lambda error, _msg: self._on_delivery(record, error),
            )
        except BufferError:  # librdkafka's local queue is full (Kafka away or slow): try again later
            return False
        return True

    def _on_delivery(self, record: _Record, error) -> None:
        from confluent_kafka import KafkaError

        if error is None:
            record.delivered = True
            self.forwarded += 1
            return
        record.attempts += 1
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            log.warning("kafka refused a %d-byte message as too large: forwarding its beginning", len(record.payload))
            record.payload = record.payload[: MAX_PAYLOAD_BYTES + 1]
        elif record.attempts in (1, 10, 100):
            log.warning("kafka delivery failed (%s), attempt %d: sending it again", error.str(), record.attempts)
        if error.fatal():
            self._rebuild()  # sends this one again too
            return
        self._retry.append(record)

    def _rebuild(self) -> None:
        log.error("kafka producer failed fatally: rebuilding it and sending every unconfirmed message again")
        self._producer = self._new_producer()
        self._retry = deque(r for r in self._pending if not r.delivered)

    def poll(self, max_wait: float = 0.2, *, max_take: int = 5000) -> int:
        """Forward received messages to Kafka and acknowledge the confirmed ones. Returns the number taken."""
        while self._retry:
            if not self._produce(self._retry[0]):
                break
            self._retry.popleft()
        taken = 0
        if not self._retry and len(self._pending) < self.config.max_pending:
            try:
                timeout = max_wait
                while taken < max_take:
                    msg, generation, received_at = self._inbox.get(timeout=timeout)
                    timeout = 0.0
                    record = _Record(msg, generation, received_at, msg.payload)
                    self._pending.append(record)
                    taken += 1
                    if not self._produce(record):
                        self._retry.append(record)
                        break
            except queue.Empty:
                pass
        else:
            self._producer.poll(max_wait)
        self._producer.poll(0)
        self._ack_delivered()
        return taken

    def _ack_delivered(self) -> None:
        with self._ack_lock:
            while self._pending and self._pending[0].delivered:
                record = self._pending.popleft()
                if record.generation == self._generation:
                    self.client.ack(record.message.mid, record.message.qos)
                    self.acknowledged += 1
        if self._pending and not self._pending[0].delivered:
            oldest = self._pending[0].broker_at
            if self.clock() - oldest > 5 and self._kafka_waiting_since is None:
                self._kafka_waiting_since = oldest
                log.warning(
                    "kafka not confirming: holding MQTT acknowledgements (%d messages wait)", len(self._pending)
                )
        elif self._kafka_waiting_since is not None:
            log.warning("kafka confirming again: acknowledgements resumed")
            self._kafka_waiting_since = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def stop(self, flush_timeout: float = 30.0) -> None:
        """Wait (bounded) for Kafka to confirm what was produced, acknowledge it, leave. The rest stays with the
        MQTT broker (persistent session) for the next start."""
        deadline = time.monotonic() + flush_timeout
        while self._pending and time.monotonic() < deadline:
            self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            while self._retry and self._produce(self._retry[0]):
                self._retry.popleft()
            self._ack_delivered()
        if self._pending:
            log.warning("bridge: %d messages unconfirmed by kafka stay with the MQTT broker", len(self._pending))
        self._connected.clear()  # a disconnection we asked for: not worth a warning
        self.client.loop_stop()
        self.client.disconnect()


def cmd_bridge(args) -> int:
    from ingestion.cli_common import Stop
    from ingestion.kafka_consumer import require_client
    from ingestion.kafka_producer import ensure_topic

    require_client()
    stop = Stop()
    if args.kafka_partitions:
        ensure_topic(args.kafka_bootstrap, args.kafka_topic, args.kafka_partitions)
    bridge = MqttKafkaBridge(
        mqtt_config(args, client_id=args.client_id),
        BridgeConfig(args.kafka_bootstrap, args.kafka_topic),
    )
    bridge.start()
    print(f"bridge: mqtt {args.mqtt_host}:{args.mqtt_port} as {args.client_id} (persistent session) -> kafka "
          f"{args.kafka_bootstrap} topic {args.kafka_topic}", flush=True)  # fmt: skip
    last_report = time.monotonic()
    while not stop:
        bridge.poll(0.2)
        if time.monotonic() - last_report >= args.report_every:
            print(f"bridge: {bridge.forwarded:,} forwarded, {bridge.acknowledged:,} acknowledged, "
                  f"{bridge.pending:,} waiting for kafka", flush=True)  # fmt: skip
            last_report = time.monotonic()
    bridge.stop()
    print(f"bridge stopped: {bridge.forwarded:,} forwarded, {bridge.acknowledged:,} acknowledged", flush=True)
    return 0


def add_bridge_parser(sub) -> None:
    p = sub.add_parser("bridge", help="MQTT -> Kafka bridge: acknowledges MQTT only once Kafka confirmed")
    add_mqtt_args(p)
    p.add_argument("--client-id", default="madinina-bridge", help="fixed id = persistent session")
    p.add_argument("--kafka-bootstrap", default="localhost:9092")
    p.add_argument("--kafka-topic", default="sensor_data")
    p.add_argument("--kafka-partitions", type=int, default=None, help="create the topic with this many partitions")
    p.add_argument("--report-every", type=float, default=10.0)
    p.set_defaults(func=cmd_bridge)
