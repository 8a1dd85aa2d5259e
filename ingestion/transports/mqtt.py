"""MQTT transport (paho-mqtt, Mosquitto): QoS 1 publishing, and a consumer with a persistent session that
acknowledges a message only once it is durable in the consumer's local spool (ingestion/service.py) — so a
crash means redelivery (absorbed by the idempotent writer), a database outage means spooling, and a full or
unwritable spool means the broker keeps the messages: never a loss.

Every client (publisher, consumer, bridge) is made by new_client(): over TLS, verifying the broker against a CA
file, when one is configured, and with a username/password when one is (the broker's TLS listener requires
both: deploy/mosquitto/mosquitto.conf, scripts/mqtt_broker.py). The CLI options are add_mqtt_args()'s."""

from __future__ import annotations

import argparse
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

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
    ca_file: str | None = None  # TLS when set: the broker's certificate must be signed by this CA (and name host)
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr, a log line or an error


def new_client(config: MqttConfig, *, client_id: str, **options) -> mqtt.Client:
    """A paho client with the configuration's TLS and credentials (options: clean_session, manual_ack, protocol)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **options)
    if config.ca_file:
        client.tls_set(ca_certs=config.ca_file)  # certificate chain and host name checked; TLS 1.2+ (Python's default)
    if config.username:
        client.username_pw_set(config.username, config.password)
    return client


def add_mqtt_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("MQTT broker")
    group.add_argument("--mqtt-host", default="127.0.0.1")
    group.add_argument("--mqtt-port", type=int, default=1883)
    group.add_argument(
        "--mqtt-ca",
        default=os.environ.get("MQTT_CA_FILE"),
        help="TLS: the CA file to verify the broker with, e.g. .data/mqtt-tls/ca.crt (env MQTT_CA_FILE)",
    )
    group.add_argument("--mqtt-username", default=os.environ.get("MQTT_USERNAME"), help="(env MQTT_USERNAME)")
    group.add_argument(
        "--mqtt-password-file",
        default=os.environ.get("MQTT_PASSWORD_FILE"),
        help="a file holding the password, e.g. .data/mqtt-tls/clients/madinina-consumer.password "
        "(env MQTT_PASSWORD_FILE; or the password itself in env MQTT_PASSWORD)",
    )


def mqtt_config(args: argparse.Namespace, **fields) -> MqttConfig:
    """The MqttConfig of add_mqtt_args()'s options (plus fields such as client_id)."""
    password = os.environ.get("MQTT_PASSWORD") or None
    if args.mqtt_password_file:
        try:
            with open(args.mqtt_password_file, encoding="utf-8") as handle:
                password = handle.read().strip()
        except OSError as exc:  # not the path in the message: a password typed there by mistake must not show
            raise ValueError(f"--mqtt-password-file: cannot read it ({exc.strerror})") from None
    if password and not args.mqtt_username:
        raise ValueError("an MQTT password needs a username (--mqtt-username)")
    return MqttConfig(
        host=args.mqtt_host,
        port=args.mqtt_port,
        ca_file=args.mqtt_ca or None,
        username=args.mqtt_username or None,
        password=password,
        **fields,
    )


class MqttPublisher:
    """QoS 1 publisher. `flush()` waits for the broker's PUBACK of everything published, counted from the PUBACK
    callbacks: paho keeps and resends unacknowledged messages across a broker restart, and a message published
    while disconnected is sent on reconnect (its MQTTMessageInfo then carries an error code although it is
    delivered later, so that object is not the judge).

    With mqtt5=True a PUBACK says whether the broker took the message: one it refuses (the TLS listener's ACL:
    "not authorised") is counted in `refused` and logged with its topic, never counted as delivered. In MQTT 3.1.1
    (the default) the broker acknowledges a refused message as a success: nothing can be counted. Not the default
    because Mosquitto 2.0.11 answers an MQTT 5 publish over its message_size_limit with a PUBACK that paho 2.2
    cannot parse ("malformed packet"): paho reconnects and sends it again, for ever (measured; in 3.1.1 the broker
    acknowledges and drops it, as deploy/mosquitto/mosquitto.conf says). The constructor waits for the broker's
    answer to the connection and raises ConnectionError when it refuses it (bad credentials)."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str = "madinina-simulator",
        connect_timeout: float = 15.0,
        mqtt5: bool = False,
    ):
        self.config = config
        protocol = mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311
        self.client = new_client(config, client_id=client_id, protocol=protocol)
        # QoS 1 messages not yet acknowledged by the broker are kept (and retried) by paho; bound the window.
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._cond = threading.Condition()
        self._waiting: dict[int, str] = {}  # published, PUBACK not seen yet: mid -> topic
        self._early: dict[int, mqtt.ReasonCode] = {}  # PUBACK seen before publish() returned its id
        self._published = 0
        self.refused = 0
        self._connack = threading.Event()
        self._connect_refusal: str | None = None
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.connect(config.host, config.port, config.keepalive)
        self.client.loop_start()
        if not self._connack.wait(connect_timeout) or self._connect_refusal:
            self.client.loop_stop()
            self.client.disconnect()
            why = self._connect_refusal or f"no answer in {connect_timeout:g}s"
            raise ConnectionError(f"MQTT broker {config.host}:{config.port} refused the connection: {why}")

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure and not self._connack.is_set():
            self._connect_refusal = str(reason_code)
        self._connack.set()

    def _settle(self, topic: str, reason) -> None:
        if reason.is_failure:
            self.refused += 1
            log.error("the MQTT broker refused a message on %s: %s (not delivered)", topic, reason)

    def _on_publish(self, _client, _userdata, mid, reason, _properties) -> None:
        with self._cond:
            if mid in self._waiting:
                self._settle(self._waiting.pop(mid), reason)
                self._cond.notify_all()
            else:
                self._early[mid] = reason

    def publish(self, payload: bytes, topic: str | None = None) -> None:
        topic = topic or topic_for(payload)
        info = self.client.publish(topic, payload, qos=self.config.qos)
        with self._cond:  # never held while calling paho: its network thread calls _on_publish under its own lock
            if info.mid in self._early:
                self._settle(topic, self._early.pop(info.mid))
            else:
                self._waiting[info.mid] = topic
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
        self._refusal: str | None = None
        self.client = new_client(config, client_id=config.client_id, clean_session=False, manual_ack=True)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self._inbox.put((msg, self._generation))
        self.client.on_subscribe = lambda *_a: self._connected.set()
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            self._refusal = str(reason_code)
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
            self.client.loop_stop()
            refused = f" (refused: {self._refusal})" if self._refusal else ""
            raise ConnectionError(f"no MQTT connection to {self.config.host}:{self.config.port} in {timeout}s{refused}")

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
