"""Traffic for the chaos suite: the sender (the test itself as the devices, counting a message as sent only once
the broker acknowledged it), fast bursts, and the comparison of what was sent with what the database holds."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg2

# --- the sender ---------------------------------------------------------------------------------------------


def wait_acked(infos: Iterable, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
    """True once the broker acknowledged (PUBACK) every message. paho resends an unacknowledged QoS 1 message
    after a reconnect even when publish() returned MQTT_ERR_NO_CONN, and then marks it published; its
    wait_for_publish()/is_published() raise on that return code anyway, so the flag is read directly."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for info in infos:
        with info._condition:
            while not info._published:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                if stop is not None and stop.is_set() and deadline is None:
                    deadline = time.monotonic() + 120  # stopping: still give the broker time to come back
                info._condition.wait(0.2)
    return True


def mqtt_publisher(port: int, client_id: str):
    from ingestion.transports.mqtt import MqttConfig, MqttPublisher

    publisher = MqttPublisher(MqttConfig(port=port), client_id=client_id)
    publisher.client.reconnect_delay_set(1, 2)  # back quickly after a broker restart
    return publisher


class Sender(threading.Thread):
    """Ticks the simulator at `rate` ticks/s of wall time, publishes each tick (QoS 1) and records a message as
    sent once acknowledged. `inject()` adds payloads to the next tick (poison messages in valid traffic)."""

    def __init__(self, port: int, *, seed: int, fmt: str, start: float, faults=None, rate: float = 1.0):
        super().__init__(daemon=True, name="chaos-sender")
        from ingestion.simulator import FaultConfig, Simulator

        self.sim = Simulator(seed=seed, faults=faults or FaultConfig(), fmt=fmt)
        self.publisher = mqtt_publisher(port, f"chaos-sender-{time.monotonic_ns()}")
        self.t, self.rate = start, rate
        self.acked: list[bytes] = []
        self.ticks = 0
        self.blocked_s = 0.0  # time spent waiting for PUBACKs longer than one tick (broker away)
        self._extra: list[bytes] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def inject(self, payloads: Iterable[bytes]) -> None:
        with self._lock:
            self._extra.extend(payloads)

    def injections_pending(self) -> int:
        with self._lock:
            return len(self._extra)

    def run(self) -> None:
        try:
            next_wall = time.monotonic()
            while not self._halt.is_set():
                if self._halt.wait(max(0.0, next_wall - time.monotonic())):
                    break
                with self._lock:
                    batch, self._extra = self.sim.tick(self.t) + self._extra, []
                began = time.monotonic()
                infos = [self.publisher.client.publish(safe_topic(m), m, qos=1) for m in batch]
                if not wait_acked(infos, self._halt):
                    raise TimeoutError("the broker did not acknowledge a tick")
                waited = time.monotonic() - began
                self.blocked_s += max(0.0, waited - 1.0 / self.rate)
                with self._lock:
                    self.acked.extend(batch)
                self.ticks += 1
                self.t += 1.0
                # No catch-up burst after the broker was away: devices keep their pace.
                next_wall = max(next_wall + 1.0 / self.rate, time.monotonic())
        except BaseException as exc:  # reported by stop(); a dead sender must fail the scenario
            self.error = exc

    def sent(self) -> list[bytes]:
        with self._lock:
            return list(self.acked)

    def halt(self) -> None:
        """Stop without judging (teardown); idempotent."""
        self._halt.set()
        if self.is_alive():
            self.join(300)
        self.publisher.client.loop_stop()
        self.publisher.client.disconnect()

    def stop(self) -> list[bytes]:
        self.halt()
        assert not self.is_alive(), "sender did not stop"
        if self.error is not None:
            raise AssertionError(f"sender failed: {self.error!r}")
        return self.sent()


def safe_topic(payload: bytes) -> str:
    """topic_for() of a simulated message; a hostile payload goes to the unknown branch (topic_for itself may
    raise on one, e.g. a list as sensor_id or deep nesting)."""
    from ingestion.transports.topics import ROOT, topic_for

    try:
        return topic_for(payload)
    except Exception:
        return f"{ROOT}/unknown/unknown/hostile"


def _packet(kind: int, body: bytes) -> bytes:
    """One MQTT 3.1.1 control packet: fixed header (type/flags byte, variable-length remaining length)."""
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            return bytes([kind]) + bytes(length) + body


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_burst(port: int, payloads: list[bytes], *, connections: int = 2) -> float:
    """Publish at wire speed: QoS 1 PUBLISH packets encoded in advance and written in one go on each connection,
    then every PUBACK read back. paho spends ~100 µs of Python per message, too slow on 2 shared cores for
    20,000 messages in under a second; the broker is the same either way. Returns seconds from the first byte
    sent to the last PUBACK."""
    parts = [payloads[i::connections] for i in range(connections)]
    socks, buffers = [], []
    for i, part in enumerate(parts):
        assert len(part) < 65536, "packet ids are 16 bits"
        sock = socket.create_connection(("127.0.0.1", port))
        connect = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _utf8(f"chaos-burst-{i}-{time.time_ns()}")
        sock.sendall(_packet(0x10, connect))
        assert sock.recv(4)[:1] == b"\x20", "no CONNACK"
        buffers.append(b"".join(
            _packet(0x32, _utf8(safe_topic(m)) + struct.pack("!H", mid) + m) for mid, m in enumerate(part, 1)
        ))  # fmt: skip
        socks.append(sock)
    barrier, done = threading.Barrier(connections + 1), [0] * connections

    def work(i: int) -> None:
        barrier.wait()
        threading.Thread(target=socks[i].sendall, args=(buffers[i],), daemon=True).start()
        want, pending = 4 * len(parts[i]), b""
        while len(pending) < want:  # PUBACKs only: 4 bytes each (0x40, 2, packet id)
            chunk = socks[i].recv(65536)
            if not chunk:
                raise ConnectionError("broker closed the connection during the burst")
            pending += chunk
        acks = [pending[k : k + 2] for k in range(0, len(pending), 4)]
        done[i] = acks.count(b"\x40\x02") if len(pending) == want else -1

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(connections)]
    for w in workers:
        w.start()
    barrier.wait()
    began = time.monotonic()
    for w in workers:
        w.join(300)
    elapsed = time.monotonic() - began
    for sock in socks:
        sock.sendall(_packet(0xE0, b""))  # DISCONNECT
        sock.close()
    assert done == [len(p) for p in parts], f"PUBACKs {done} for {[len(p) for p in parts]} messages"
    return elapsed


# --- what was sent vs what is stored ------------------------------------------------------------------------


@dataclass
class Expected:
    """What the acknowledged messages contain, worked out in the test process (sender side)."""

    readings: set[tuple[str, str, int]] = field(default_factory=set)  # (sensor_id, metric, time in µs)
    quarantine: Counter = field(default_factory=Counter)  # (payload as stored, reason) -> rows
    messages: int = 0
    readings_sent: int = 0  # with repeats (duplicates sent on purpose count here, once in `readings`)

    @classmethod
    def of(cls, messages: list[bytes], *, received_at: float | None = None) -> Expected:
        from ingestion.validation import Validator

        validator = Validator(source="chaos")
        exp = cls(messages=len(messages))
        rejections = set()
        for payload in messages:
            result = validator.parse(payload, received_at=received_at or time.time())
            exp.readings_sent += len(result.readings)
            exp.readings.update((r.sensor_id, r.metric, round(r.time * 1e6)) for r in result.readings)
            # A rejection repeated identically (same reason, detail and payload) is stored once.
            rejections.update((j.bounded_payload(), j.reason, j.detail) for j in result.rejections)
        exp.quarantine = Counter((payload, reason) for payload, reason, _ in rejections)
        return exp

    def readings_until(self, cutoff_us: int) -> int:
        return sum(1 for r in self.readings if r[2] <= cutoff_us)


def stored_readings(url: str) -> list[tuple[str, str, int]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, (extract(epoch FROM time) * 1000000)::bigint FROM sensor_data")
        return [tuple(row) for row in cur.fetchall()]


def stored_quarantine(url: str) -> list[tuple[str, str]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT payload, reason FROM quarantine")
        return [tuple(row) for row in cur.fetchall()]


def count_until(url: str, cutoff_us: int) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data WHERE time <= to_timestamp(%s / 1e6)", (cutoff_us,))
        return cur.fetchone()[0]


@dataclass
class Row:
    """One line of the reliability table."""

    scenario: str
    messages: int
    readings: int
    stored: int
    quarantined: int
    duplicates: int
    lost: int
    extra: int
    recovery_s: float | None
    notes: str = ""
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.extra == 0

    HEADER = "| scenario | sent (messages / readings) | stored | quarantined | duplicates absorbed | lost | recovery |"

    def markdown(self) -> str:
        rec = "–" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return (
            f"| {self.scenario} | {self.messages:,} / {self.readings:,} | {self.stored:,} | {self.quarantined:,} | "
            f"{self.duplicates:,} | {self.lost} | {rec} |"
        )


def compare(scenario: str, expected: Expected, url: str, ledger: dict, recovery_s: float | None, notes="") -> Row:
    """Exact set comparison per (sensor, metric, time) and per (payload, reason); counts of what is missing
    (lost) and of what is there without having been sent, or twice (extra)."""
    rows = stored_readings(url)
    rows_set = set(rows)
    twice = len(rows) - len(rows_set)
    missing = expected.readings - rows_set
    invented = rows_set - expected.readings
    quarantine = Counter(stored_quarantine(url))
    q_missing = expected.quarantine - quarantine
    q_extra = quarantine - expected.quarantine
    by_metric_missing = Counter(f"{s}/{m}" for s, m, _ in missing)
    return Row(
        scenario=scenario,
        messages=expected.messages,
        readings=len(expected.readings),
        stored=len(rows_set),
        quarantined=sum(quarantine.values()),
        duplicates=int(ledger.get("duplicates", 0)) + int(ledger.get("quarantine_duplicates", 0)),
        lost=len(missing) + sum(q_missing.values()),
        extra=twice + len(invented) + sum(q_extra.values()),
        recovery_s=recovery_s,
        notes=notes,
        details={
            "missing_by_sensor_metric": dict(by_metric_missing.most_common(10)),
            "missing_times": sorted({t for _, _, t in missing})[:10],
            "invented": sorted(invented)[:10],
            "quarantine_missing": [(p[:120], r) for (p, r) in list(q_missing)[:10]],
            "quarantine_extra": [(p[:120], r) for (p, r) in list(q_extra)[:10]],
            "ledger": ledger,
        },
    )
