"""MQTT transport (paho-mqtt, Mosquitto): QoS 1 publishing, and a consumer with a persistent session that
acknowledges a message only after the batch holding it is committed — so a crash means redelivery (absorbed by
the idempotent writer), never loss."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from ingestion.processor import LiteProcessor
from ingestion.transports.topics import SUBSCRIPTION, topic_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "madinina-consumer"
    topic: str = SUBSCRIPTION
    qos: int = 1
    keepalive: int = 30


class MqttPublisher:
    def __init__(self, config: MqttConfig, *, client_id: str = "madinina-simulator"):
        self.config = config
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        # QoS 1 messages not yet acknowledged by the broker are kept (and retried) by paho; bound the window.
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(config.host, config.port, config.keepalive)
        self.client.loop_start()
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, payload: bytes, topic: str | None = None) -> None:
        info = self.client.publish(topic or topic_for(payload), payload, qos=self.config.qos)
        self._pending.append(info)
        if len(self._pending) >= 5000:
            self.flush()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker acknowledged everything published so far (PUBACK)."""
        deadline = time.monotonic() + timeout
        for info in self._pending:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError("the MQTT broker did not acknowledge all messages in time")
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.loop_stop()
        self.client.disconnect()


class MqttConsumer:
    """Subscribes with a persistent session (clean_session=False, fixed client id) and manual acks."""

    def __init__(self, config: MqttConfig, processor: LiteProcessor):
        self.config = config
        self.processor = processor
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._unacked: list[mqtt.MQTTMessage] = []
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False, manual_ack=True
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self._inbox.put(msg)
        self.client.on_subscribe = lambda *_a: self._connected.set()
        self.client.on_disconnect = lambda *_a: self._connected.clear()

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        # Ready only once the broker confirmed the subscription (SUBACK): from then on, messages for this
        # session are kept by the broker even while we are away.
        client.subscribe(self.config.topic, qos=self.config.qos)

    def start(self, timeout: float = 15.0) -> None:
        self.client.connect(self.config.host, self.config.port, self.config.keepalive)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise ConnectionError(f"no MQTT connection to {self.config.host}:{self.config.port} in {timeout}s")

    def poll(self, max_wait: float = 0.2) -> int:
        """Move received messages into the processor; flush + acknowledge when a batch is due. Returns the
        number of messages taken."""
        taken: list[mqtt.MQTTMessage] = []
        try:
            taken.append(self._inbox.get(timeout=max_wait))
            while len(taken) < self.processor.max_batch:
                taken.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        now = time.time()
        for msg in taken:
            self.processor.submit(msg.payload, received_at=now)
        self._unacked.extend(taken)
        if self.processor.due() or (not taken and self._unacked):
            self.commit()
        return len(taken)

    def commit(self) -> None:
        """Flush the processor, then acknowledge every message it held."""
        self.processor.flush()
        for msg in self._unacked:
            self.client.ack(msg.mid, msg.qos)
        self._unacked.clear()

    def stop(self) -> None:
        self.commit()
        self.client.loop_stop()
        self.client.disconnect()
