"""The shipped broker configuration (deploy/mosquitto/mosquitto.conf) keeps what the network sends through a
consumer outage, a burst and a graceful broker restart, and lets oversized payloads reach the consumer (so they
are quarantined, not dropped). Every check compares what the subscriber received with what was PUBLISHED (count
and set of payloads), never with a counter of the receiving code. A control run with Mosquitto's default limits
shows the same scenario losing messages, so the checks can fail."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from ingestion.simulator import Simulator
from ingestion.transports.mqtt import MqttConfig, MqttPublisher
from ingestion.validation import Validator
from tests.support.mosquitto import SHIPPED_CONF, Broker, mosquitto_path, render
from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]
START = time.time() - 3600  # an hour ago: valid timestamps, none in the future
TOPIC = "madinina/#"


@pytest.fixture
def broker(output_dir):
    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    b = Broker(output_dir / "mosquitto")
    b.start()
    yield b
    b.stop()


def simulated(n: int, seed: int = 8, start: float = START) -> list[bytes]:
    """n distinct messages of the default shape (one multi-metric record per sensor and second)."""
    sim, out, t = Simulator(seed=seed), [], start
    while len(out) < n:
        out.extend(sim.tick(t))
        t += 1.0
    out = out[:n]
    assert len(set(out)) == n  # distinct, so the set comparison below really counts every message
    return out


def publish(port: int, payloads: list[bytes], topic: str | None = None) -> None:
    """Publish with the project's publisher (QoS 1); returns once the broker acknowledged every message."""
    publisher = MqttPublisher(MqttConfig(port=port), client_id=f"test-pub-{time.monotonic_ns()}")
    for payload in payloads:
        publisher.publish(payload, topic)
    publisher.close()


class Session:
    """A persistent-session subscriber (fixed client id, clean_session=False, QoS 1) recording every payload."""

    def __init__(self, port: int, client_id: str, *, subscribe: bool = True):
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_message = self._on_message
        if subscribe:
            self.client.on_connect = lambda c, *_a: c.subscribe(TOPIC, qos=1)
            self.client.on_subscribe = lambda *_a: self._ready.set()
        else:  # rely on the session the broker kept: no new subscription
            self.client.on_connect = lambda *_a: self._ready.set()
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert self._ready.wait(15), "no connection / subscription in 15 s"

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._lock:
            self.received.append(msg.payload)

    def wait_for(self, expected: set[bytes], timeout: float = 120.0) -> set[bytes]:
        """Wait until every expected payload arrived (or the deadline); returns the distinct payloads received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = set(self.received)
            if got >= expected:
                return got
            time.sleep(0.1)
        return got

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _outage(port: int, messages: list[bytes], client_id: str, timeout: float) -> set[bytes]:
    Session(port, client_id).close()  # the consumer's session exists, then the consumer goes away
    publish(port, messages)  # ...while the network keeps sending
    back = Session(port, client_id)  # the consumer comes back
    try:
        return back.wait_for(set(messages), timeout)
    finally:
        back.close()


def test_an_offline_session_gets_all_20000_messages_published_while_it_was_away(broker):
    messages = simulated(20_000)
    got = _outage(broker.port, messages, "test-outage", timeout=120)
    assert len(got) == 20_000 and got == set(messages)
    assert "dropped" not in broker.log()


def test_control_mosquitto_defaults_lose_that_burst(output_dir):
    """The same scenario with the queue/in-flight options removed (Mosquitto's defaults: 1,000 queued + 20 in
    flight): messages are lost, so the test above measures the shipped limits, not luck."""
    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    text = re.sub(r"^max_(queued|inflight)_(messages|bytes) .*$", "", SHIPPED_CONF.read_text(), flags=re.M)
    b = Broker(output_dir / "mosquitto", conf_text=text)
    b.start()
    try:
        messages = simulated(5_000)
        # The default queue keeps ~1,000; a short wait suffices because nothing more is coming.
        got = _outage(b.port, messages, "test-default", timeout=10)
    finally:
        b.stop()
    assert len(got) <= 1_100 and "Outgoing messages are being dropped" in b.log()


def test_a_graceful_broker_restart_loses_no_queued_message(broker):
    messages = simulated(5_000, seed=9)
    Session(broker.port, "test-restart").close()
    publish(broker.port, messages)  # queued for the offline session
    assert broker.stop() == 0  # SIGTERM: Mosquitto saves its database on the way out
    assert (broker.data_dir / "mosquitto.db").stat().st_size > 0
    broker.start()  # same port, same persistence directory
    # No new subscription: the session (its subscription and its queue) must come from the saved database.
    back = Session(broker.port, "test-restart", subscribe=False)
    try:
        got = back.wait_for(set(messages), timeout=60)
    finally:
        back.close()
    assert len(got) == 5_000 and got == set(messages)


def test_a_broker_sigkill_keeps_what_the_last_autosave_held_and_loses_only_what_came_after(broker):
    """The loss window documented in the shipped file: a SIGKILL keeps every message queued before the latest
    snapshot (autosave_interval) and loses what the broker accepted after it."""
    db = broker.data_dir / "mosquitto.db"
    before, after = simulated(2_000, seed=10), simulated(300, seed=10, start=START + 600)  # later ticks
    assert not set(before) & set(after)
    Session(broker.port, "test-sigkill").close()
    publish(broker.port, before)
    published_at = time.time()
    # Wait for the periodic save that follows the publication (at most autosave_interval later).
    deadline = time.monotonic() + 30
    while not (db.exists() and db.stat().st_mtime > published_at):
        assert time.monotonic() < deadline, "no autosave within 30 s"
        time.sleep(0.05)
    saved_at = db.stat().st_mtime
    publish(broker.port, after)  # accepted (PUBACK) but not yet in any snapshot...
    resaved = db.stat().st_mtime != saved_at  # (the next save is ~10 s away; checked, not assumed)
    broker.kill()  # ...when the broker dies without saving
    broker.start()
    back = Session(broker.port, "test-sigkill", subscribe=False)
    try:
        got = back.wait_for(set(before), timeout=60)
    finally:
        back.close()
    assert got >= set(before)  # everything the snapshot held survived the SIGKILL
    if not resaved:
        assert not got & set(after)  # and what came after it was lost: the documented window


def test_a_200_kib_payload_reaches_the_subscriber_and_is_quarantined_as_too_large(broker):
    big = b'{"sensor_id": "FDF-TMP-001", "padding": "' + b"x" * (200 * 1024) + b'"}'
    session = Session(broker.port, "test-big")
    try:
        publish(broker.port, [big], topic="madinina/fort-de-france/air/FDF-TMP-001")
        got = session.wait_for({big}, timeout=30)
    finally:
        session.close()
    assert big in got
    # What the consumer does with it (DESIGN §3): a rejection with its true reason, not a silent broker drop.
    rejections = Validator(source="mqtt").parse(big).rejections
    assert [r.reason for r in rejections] == ["payload_too_large"]


def test_over_the_broker_limit_is_dropped_by_the_broker(broker):
    """The 2 MiB message_size_limit is in force (it bounds what one publish costs the broker)."""
    session = Session(broker.port, "test-huge")
    try:
        huge, marker = b"y" * (3 * 1024 * 1024), b"after-the-huge-one"
        publish(broker.port, [huge, marker], topic="madinina/x/air/X")
        got = session.wait_for({marker}, timeout=30)  # order per topic: once the marker is here, huge is not
    finally:
        session.close()
    assert marker in got and huge not in got


def test_one_file_everywhere():
    text = SHIPPED_CONF.read_text()
    options = dict(
        line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#") and " " in line
    )
    assert options["persistence"] == "true" and int(options["autosave_interval"]) <= 30
    assert int(options["max_queued_messages"]) >= 60 * 3600 + 20_000  # 1 h of the default network + a burst
    assert int(options["max_queued_bytes"]) >= int(options["max_queued_messages"]) * 1024
    assert 20_000 <= int(options["max_inflight_messages"]) < 65_536  # several consumer polls; MQTT packet ids
    assert 64 * 1024 < int(options["message_size_limit"]) <= 16 * 1024 * 1024
    rendered = render(1234, Path("/x/y"))
    assert "listener 1234 127.0.0.1" in rendered and "persistence_location /x/y" in rendered
    assert rendered.count("\n") == text.count("\n")  # two lines substituted, nothing added
    # deploy/compose.yaml mounts this very file where the official image reads its configuration.
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["mosquitto"]
    assert "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in service["volumes"]
    assert any(v.endswith(":/mosquitto/data") for v in service["volumes"])
    # The run command uses it too.
    assert "deploy/mosquitto/mosquitto.conf" in (ROOT / "scripts" / "run.sh").read_text()
