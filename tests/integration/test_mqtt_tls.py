"""Issue 9 point 8 with a real Mosquitto started from the shipped configuration with its TLS section switched on,
and the secrets of scripts/mqtt_broker.py: a device's reading over TLS with its own credentials is stored end to
end by the real consumer CLI; a wrong password, no credentials, and a client that does not trust the project's
CA are all refused; a device publishing on another device's topic is not delivered — and the project's MQTT 5
publisher sees that refusal, while an MQTT 3.1.1 client is told "success" (Mosquitto's behaviour, documented in
deploy/mosquitto/mosquitto.conf). What is checked is what a subscriber RECEIVED against what was PUBLISHED."""

from __future__ import annotations

import json
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from ingestion.catalogue import SENSORS
from ingestion.simulator import Simulator
from ingestion.transports.mqtt import MqttConfig, MqttConsumer, MqttPublisher, new_client
from ingestion.transports.topics import sensor_topic
from ingestion.validation import Validator
from scripts.mqtt_broker import CONSUMER, SERVICE_ACL, SIMULATOR, Secrets, generate
from tests.support.app import ROOT
from tests.support.mosquitto import Broker, mosquitto_path
from tests.support.services import require, wait_for

DEVICE, OTHER = SENSORS[0], SENSORS[1]


@pytest.fixture(scope="module")
def secrets(output_dir) -> Secrets:
    require(mosquitto_path() is not None and shutil.which("mosquitto_passwd"), "Mosquitto (Debian package mosquitto)")
    require(shutil.which("openssl") is not None, "openssl")
    directory = output_dir / "mqtt-tls-secrets"
    shutil.rmtree(directory, ignore_errors=True)
    return generate(directory)


@pytest.fixture(scope="module")
def broker(output_dir, secrets):
    b = Broker(output_dir / "mosquitto-tls", tls_dir=secrets.directory)
    b.start()
    yield b
    b.stop()


def tls(broker, secrets, account: str | None, *, password: str | None = None, ca: str | None = None) -> MqttConfig:
    return MqttConfig(
        host="127.0.0.1",
        port=broker.tls.port,
        ca_file=ca or str(secrets.ca_cert),
        username=account,
        password=password if password is not None else (secrets.password(account) if account else None),
    )


class Received:
    """A subscriber on madinina/# (the consumer's account over TLS) recording every (topic, payload)."""

    def __init__(self, config: MqttConfig):
        self.messages: list[tuple[str, bytes]] = []
        self._ready = threading.Event()
        self.client = new_client(config, client_id=f"test-sub-{time.monotonic_ns()}", clean_session=True)
        self.client.on_connect = lambda c, *_: c.subscribe("madinina/#", qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, msg.payload))
        self.client.connect(config.host, config.port)
        self.client.loop_start()
        assert self._ready.wait(15), "subscriber not ready"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def reading_of(sensor, at: float) -> bytes:
    """The simulator's message for this sensor at this instant (what the device itself would send)."""
    for message in Simulator(seed=9).tick(at):
        if json.loads(message).get("sensor_id") == sensor.sensor_id:
            return message
    raise AssertionError(f"no message for {sensor.sensor_id}")


def test_a_device_reading_over_tls_with_its_own_credentials_is_stored_end_to_end(broker, secrets, db_url, tmp_path):
    log = tmp_path / "consume.log"
    consumer = subprocess.Popen(
        [
            sys.executable, "-m", "ingestion", "--database-url", db_url, "consume",
            "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.tls.port), "--mqtt-ca", str(secrets.ca_cert),
            "--mqtt-username", CONSUMER, "--mqtt-password-file", str(secrets.password_file(CONSUMER)),
            "--client-id", "test-tls-consumer", "--alerts-every", "0", "--spool-dir", str(tmp_path / "spool"),
        ],
        cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115 - the child owns it
    )  # fmt: skip
    try:
        wait_for(lambda: "consume: mqtt" in log.read_text() or consumer.poll() is not None, 60, "consumer up")
        assert consumer.poll() is None, log.read_text()
        at = float(int(time.time()) - 60)
        message = reading_of(DEVICE, at)
        sent = {(r.sensor_id, r.metric) for r in Validator(source="x").parse(message).readings}
        assert sent, message
        device = MqttPublisher(tls(broker, secrets, DEVICE.sensor_id), client_id=DEVICE.sensor_id)
        device.publish(message)  # to madinina/<commune>/<kind>/<its id>
        device.close()
        assert device.refused == 0

        def stored():
            with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
                cur.execute("SELECT sensor_id, metric FROM sensor_data WHERE time = to_timestamp(%s)", (at,))
                return set(cur.fetchall())

        wait_for(lambda: stored() == sent, 60, "the device's reading in sensor_data")
        assert secrets.password(CONSUMER) not in log.read_text()
    finally:
        consumer.terminate()
        consumer.wait(30)


@pytest.mark.parametrize("who", ["wrong password", "anonymous", "unknown user"])
def test_the_tls_listener_refuses_bad_or_missing_credentials(broker, secrets, who):
    config = {
        "wrong password": tls(broker, secrets, DEVICE.sensor_id, password="not-" + secrets.password(DEVICE.sensor_id)),
        "anonymous": tls(broker, secrets, None),
        "unknown user": tls(broker, secrets, "no-such-device", password="x"),
    }[who]
    with pytest.raises(ConnectionError, match="[Nn]ot authori[sz]ed"):
        MqttPublisher(config, client_id=f"test-refused-{time.monotonic_ns()}", connect_timeout=10)
    consumer = MqttConsumer(config, ingest=None)  # the consumer says why it cannot start
    with pytest.raises(ConnectionError, match="refused: [Nn]ot authori[sz]ed"):
        consumer.start(timeout=5)


def test_the_loopback_demo_listener_stays_anonymous(broker):
    publisher = MqttPublisher(MqttConfig(port=broker.port), client_id=f"test-anon-{time.monotonic_ns()}")
    publisher.publish(b"{}", "madinina/x/y/z")
    publisher.close()
    assert publisher.refused == 0


def test_a_client_that_does_not_trust_the_project_ca_fails_the_handshake(broker, secrets, output_dir):
    other = output_dir / "mqtt-tls-other-ca"
    shutil.rmtree(other, ignore_errors=True)
    stranger = generate(other, sensor_ids=[])  # another CA, as an attacker's or a misconfigured client's
    config = tls(broker, secrets, DEVICE.sensor_id, ca=str(stranger.ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        MqttPublisher(config, client_id=f"test-untrusted-{time.monotonic_ns()}")


def test_a_device_publishing_on_another_devices_topic_is_not_delivered(broker, secrets):
    subscriber = Received(tls(broker, secrets, CONSUMER))
    try:
        at = float(int(time.time()) - 120)
        forged, own = reading_of(OTHER, at), reading_of(DEVICE, at)
        # MQTT 5 (the project's publisher): the broker's PUBACK says "not authorised", counted as refused.
        device = MqttPublisher(tls(broker, secrets, DEVICE.sensor_id), client_id=DEVICE.sensor_id, mqtt5=True)
        device.publish(forged, sensor_topic(OTHER))
        device.publish(own, sensor_topic(DEVICE))
        device.close()
        assert device.refused == 1
        # MQTT 3.1.1: the same publish is acknowledged as a success, and not delivered either.
        acks = []
        v311 = new_client(tls(broker, secrets, DEVICE.sensor_id), client_id=f"{DEVICE.sensor_id}-v311")
        v311.on_publish = lambda _c, _u, _mid, reason, _p: acks.append(reason)
        v311.connect("127.0.0.1", broker.tls.port)
        v311.loop_start()
        v311.publish(sensor_topic(OTHER), forged + b" ", qos=1).wait_for_publish(15)
        v311.publish(sensor_topic(DEVICE), own + b" ", qos=1).wait_for_publish(15)
        wait_for(lambda: len(acks) == 2, 15, "both PUBACKs")
        v311.loop_stop()
        v311.disconnect()
        assert [a.is_failure for a in acks] == [False, False]
        # What arrived: both own-topic messages (each sent AFTER its forged one, on the same connection, so a
        # delivered forged message would have arrived first), never a forged one.
        wait_for(lambda: len(subscriber.messages) >= 2, 30, "the own-topic messages")
        assert sorted(subscriber.messages) == sorted([(sensor_topic(DEVICE), own), (sensor_topic(DEVICE), own + b" ")])
    finally:
        subscriber.close()


def test_the_simulator_account_publishes_the_whole_fleet_and_the_consumer_only_reads(broker, secrets):
    subscriber = Received(tls(broker, secrets, CONSUMER))
    try:
        simulator = MqttPublisher(tls(broker, secrets, SIMULATOR), client_id=f"test-sim-{time.monotonic_ns()}")
        batch = Simulator(seed=4).tick(float(int(time.time()) - 30))
        for message in batch:
            simulator.publish(message)
        simulator.close()
        assert simulator.refused == 0
        reader = MqttPublisher(tls(broker, secrets, CONSUMER), client_id=f"test-ro-{time.monotonic_ns()}", mqtt5=True)
        reader.publish(batch[0])  # the consumer's account has no write right
        reader.close()
        assert reader.refused == 1
        wait_for(lambda: len(subscriber.messages) >= len(batch), 30, "the fleet's messages")
        assert sorted(p for _t, p in subscriber.messages) == sorted(batch)
    finally:
        subscriber.close()


def test_the_secrets_are_private_hashed_and_reused(secrets):
    for path in (
        secrets.directory / "ca.key",
        secrets.broker / "server.key",
        secrets.broker / "passwd",
        secrets.broker / "acl",
        secrets.password_file(CONSUMER),
        secrets.password_file(DEVICE.sensor_id),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (secrets.broker, secrets.password_file(CONSUMER).parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    accounts = {*SERVICE_ACL, *(s.sensor_id for s in SENSORS)}
    assert {p.name.removesuffix(".password") for p in secrets.password_file(CONSUMER).parent.iterdir()} == accounts
    passwd = (secrets.broker / "passwd").read_text()
    assert {line.split(":", 1)[0] for line in passwd.splitlines()} == accounts
    assert all(line.split(":", 1)[1].startswith("$7$") for line in passwd.splitlines())  # hashed (PBKDF2-SHA512)
    assert secrets.password(CONSUMER) not in passwd
    acl = (secrets.broker / "acl").read_text()
    assert f"user {DEVICE.sensor_id}\ntopic write {sensor_topic(DEVICE)}\n" in acl
    before = {a: secrets.password(a) for a in accounts}, (secrets.broker / "server.crt").read_bytes()
    again = generate(secrets.directory)  # a second run: everything kept
    assert ({a: again.password(a) for a in accounts}, (again.broker / "server.crt").read_bytes()) == before


@pytest.mark.timeout(420)
def test_run_sh_mqtt_tls_mode_streams_through_the_tls_listener_with_its_own_accounts(output_dir):
    from tests.integration.test_supervisor import RunSh  # the run command as a user starts it
    from tests.support.mosquitto import TlsListener, render
    from tests.support.postgres import binaries_available
    from tests.support.services import free_port

    require(binaries_available(), "PostgreSQL server binaries")
    require(mosquitto_path() is not None and shutil.which("mosquitto_passwd"), "Mosquitto (Debian package mosquitto)")
    work = output_dir / "runsh-mqtt-tls"
    shutil.rmtree(work, ignore_errors=True)
    port, tls_port = free_port(), free_port()
    settings = {"MQTT_PORT": str(port), "MQTT_TLS_PORT": str(tls_port), "MQTT_DATA": str(work / "mqtt")}
    run = RunSh(work, MQTT="tls", MQTT_TLS_DIR=str(work / "tls"), BACKFILL="0", **settings)
    try:
        wait_for(lambda: run.pids("mosquitto"), 240, "broker started")
        conf = (work / "mqtt" / "mosquitto.conf").read_text()
        assert conf == render(port, work / "mqtt" / "data", tls=TlsListener(tls_port, work / "tls"))
        started = time.time()
        wait_for(lambda: (run.newest_reading() or 0) > started + 2, 180, "live readings through the TLS listener")
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(90) == 0
        text = run.text()  # the broker's log (written out when it stops) is in it
        for account in (CONSUMER, SIMULATOR):  # each program on the TLS listener, as its own account
            assert re.search(rf"New connection from 127\.0\.0\.1:\d+ on port {tls_port}\.", text)
            assert re.search(
                rf"New client connected from 127\.0\.0\.1:\d+ as \S+ \(p\d, c\d, k\d+, u'{account}'\)", text
            )
        assert not any(password in text for password in _passwords(work / "tls"))
    finally:
        run.close()


def _passwords(directory) -> list[str]:
    return [p.read_text().strip() for p in (directory / "clients").iterdir()]


def test_a_device_added_at_run_time_gets_its_own_account_kept_by_later_runs(output_dir):
    from scripts.mqtt_broker import main

    require(mosquitto_path() is not None and shutil.which("mosquitto_passwd"), "Mosquitto (Debian package mosquitto)")
    directory = output_dir / "mqtt-tls-device"
    shutil.rmtree(directory, ignore_errors=True)
    new = "mq-test-new-01"  # as `ingestion sensors add` would register it: not in the code's catalogue
    assert main(["secrets", "--dir", str(directory), "--device", new]) == 0
    assert main(["secrets", "--dir", str(directory)]) == 0  # a later run (run.sh's) without --device keeps it
    made = Secrets(directory)
    assert stat.S_IMODE(made.password_file(new).stat().st_mode) == 0o600
    assert f"user {new}\ntopic write madinina/+/+/{new}\n" in (made.broker / "acl").read_text()
    broker = Broker(output_dir / "mosquitto-tls-device", tls_dir=directory)
    broker.start()
    subscriber = Received(tls(broker, made, CONSUMER))
    try:
        device = MqttPublisher(tls(broker, made, new), client_id=new, mqtt5=True)
        device.publish(b'{"forged": 1}', sensor_topic(DEVICE))  # first: delivered, it would arrive before the next
        device.publish(b'{"own": 1}', f"madinina/le-lamentin/weather/{new}")
        device.close()
        assert device.refused == 1
        wait_for(lambda: subscriber.messages, 30, "the new device's message")
        assert subscriber.messages == [(f"madinina/le-lamentin/weather/{new}", b'{"own": 1}')]
    finally:
        subscriber.close()
        broker.stop()
