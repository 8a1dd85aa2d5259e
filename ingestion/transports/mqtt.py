"""MQTT transport (paho-mqtt, Mosquitto): QoS 1 publishing, and a consumer with a persistent session that
acknowledges a message only once it is durable in the consumer's local spool (ingestion/service.py) — so a
crash means redelivery (absorbed by the idempotent writer), a database outage means spooling, and a full or
unwritable spool means the broker keeps the messages: never a loss."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from ingestion.service import SpooledIngest
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
    """QoS 1 publisher. `flush()` waits for the broker's PUBACK of everything published, counted from the PUBACK
    callbacks: paho keeps and resends unacknowledged messages across a broker restart, and a message published
    while disconnected is sent on reconnect (its MQTTMessageInfo then carries an error code although it is
    delivered later, so that object is not the judge)."""

    def __init__(self, config: MqttConfig, *, client_id: str = "madinina-simulator"):
        self.config = config
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        # QoS 1 messages not yet acknowledged by the broker are kept (and retried) by paho; bound the window.
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._cond = threading.Condition()
        self._waiting: set[int] = set()  # published, PUBACK not seen yet
        self._early: set[int] = set()  # PUBACK seen before publish() returned its id
        self._published = 0
        self.client.on_publish = self._on_publish
        self.client.connect(config.host, config.port, config.keepalive)
        self.client.loop_start()

    def _on_publish(self, _client, _userdata, mid, _reason, _properties) -> None:
        with self._cond:
            if mid in self._waiting:
                self._waiting.discard(mid)
                self._cond.notify_all()
            else:
                self._early.add(mid)

    def publish(self, payload: bytes, topic: str | None = None) -> None:
        info = self.client.publish(topic or topic_for(payload), payload, qos=self.config.qos)
        with self._cond:  # never held while calling paho: its network thread calls _on_publish under its own lock
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._waiting.add(info.mid)
            self._published += 1
        if self._published >= 5000:
            self.flush()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker acknowledged everything published so far (PUBACK)."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._waiting, timeout):
                raise TimeoutError(
                    f"the MQTT broker did not acknowledge {len(self._waiting):,} messages in {timeout:g}s"
                )
            self._early.clear()
            self._published = 0

    def close(self) -> None:
        self.flush()
        self.client.loop_stop()
        self.client.disconnect()


class MqttConsumer:
    """Subscribes with a persistent session (clean_session=False, fixed client id) and manual acks: a message is
    acknowledged (PUBACK, in the order received, as MQTT requires) only after the spool stored it durably."""

    def __init__(self, config: MqttConfig, ingest: SpooledIngest):
        self.config = config
        self.ingest = ingest
        # (message, connection generation at receipt): a message id is only meaningful on the connection that
        # delivered it; after a reconnect the broker redelivers what we did not acknowledge, with new ids.
        self._inbox: queue.Queue[tuple[mqtt.MQTTMessage, int]] = queue.Queue()
        self._held: list[tuple[mqtt.MQTTMessage, float, int]] = []  # received, not yet durable: not acknowledged
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False, manual_ack=True
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self._inbox.put((msg, self._generation))
        self.client.on_subscribe = lambda *_a: self._connected.set()
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        # Ready only once the broker confirmed the subscription (SUBACK): from then on, messages for this
        # session are kept by the broker even while we are away.
        client.subscribe(self.config.topic, qos=self.config.qos)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        if self._connected.is_set():
            log.warning("MQTT broker connection lost (%s); reconnecting (the session keeps our messages)", reason_code)
        self._connected.clear()
        # Acknowledgements cannot travel on a dead connection, and an old id must never acknowledge a new
        # message: what this connection delivered is not acknowledged, the broker redelivers it (duplicates of what
        # the spool may already hold, absorbed by the idempotent writer).
        with self._ack_lock:
            self._generation += 1

    def start(self, timeout: float = 15.0) -> None:
        self.client.connect(self.config.host, self.config.port, self.config.keepalive)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise ConnectionError(f"no MQTT connection to {self.config.host}:{self.config.port} in {timeout}s")

    def poll(self, max_wait: float = 0.2, *, max_take: int = 5000) -> int:
        """Move received messages into the spool and acknowledge those it stored. Returns the number taken from
        the network (some may wait, unacknowledged, while the spool is full)."""
        taken = 0
        try:
            msg, generation = self._inbox.get(timeout=max_wait)
            now = time.time()
            self._held.append((msg, now, generation))
            taken = 1
            while taken < max_take:
                msg, generation = self._inbox.get_nowait()
                self._held.append((msg, now, generation))
                taken += 1
        except queue.Empty:
            pass
        self.offer_held()
        return taken

    def offer_held(self) -> int:
        if not self._held:
            return 0
        held = self._held
        accepted = self.ingest.offer([(msg.payload, received_at, "mqtt") for msg, received_at, _ in held])
        with self._ack_lock:
            for msg, _, generation in held[:accepted]:
                if generation == self._generation:
                    self.client.ack(msg.mid, msg.qos)
        del held[:accepted]
        return accepted

    @property
    def held(self) -> int:
        return len(self._held)

    def stop(self) -> None:
        self.offer_held()
        self.client.loop_stop()
        self.client.disconnect()
