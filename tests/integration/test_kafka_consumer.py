"""The lite Kafka consumer (`python -m ingestion consume-kafka`) on a real broker (Tansu) and a real PostgreSQL, as
separate processes: kill -9 mid-stream and restart, two members of one group through rebalances, and a replay
from reset offsets. Each is reconciled against what the producer sent: the (sensor, metric, time) set in
sensor_data equals the one in the produced messages, the ledger stored each reading once and counted every
message it received, and the group's committed offsets reach the end of every partition."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime

import psycopg2

from ingestion.kafka_producer import KafkaSink, ensure_topic
from ingestion.simulator import Simulator
from tests.support.app import ROOT
from tests.support.kafka import committed, read_back, reset_group

START = time.time() - 3 * 3600  # hours ago: every timestamp valid, none in the future
TOPIC = "readings"


def stream(n: int, seed: int = 3) -> list[bytes]:
    """n single-reading messages (one reading each, every one valid: no fault injected)."""
    sim = Simulator(seed=seed, fmt="single")
    messages, t = [], START
    while len(messages) < n:
        messages.extend(sim.tick(t))
        t += 1.0
    return messages[:n]


def sent_keys(messages: list[bytes]) -> set[tuple]:
    """(sensor, metric, time in ms) read straight from the JSON the producer sent (not through the validator)."""
    keys = set()
    for raw in messages:
        m = json.loads(raw)
        when = datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")).timestamp()
        keys.add((m.get("sensor_id") or m["device_id"], m.get("metric") or m["type"], round(when * 1000)))
    return keys


def stored_keys(db_url: str) -> set[tuple]:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, round(extract(epoch FROM time) * 1000) FROM sensor_data")
        return {(s, m, int(t)) for s, m, t in cur.fetchall()}


def count(db_url: str) -> int:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        return cur.fetchone()[0]


def ledger(db_url: str) -> dict[str, int]:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(received), 0), coalesce(sum(stored), 0), coalesce(sum(duplicates), 0),"
            " coalesce(sum(quarantined), 0) FROM ingest_ledger"
        )
        return dict(zip(("received", "stored", "duplicates", "quarantined"), map(int, cur.fetchone()), strict=True))


def produce(bootstrap: str, messages: list[bytes]) -> None:
    with KafkaSink(bootstrap, TOPIC) as sink:
        sink.send_batch(messages)
        sink.flush()
        assert (sink.delivered, sink.failed) == (len(messages), 0)


def ends(bootstrap: str, n: int) -> dict[int, int]:
    """The next offset of every partition, from what a reader gets (Tansu's watermarks lag: tests/support)."""
    result: dict[int, int] = {}
    for m in read_back(bootstrap, TOPIC, n):
        result[m.partition()] = max(result.get(m.partition(), 0), m.offset() + 1)
    return result


class Member:
    """One `consume-kafka` process of the group."""

    def __init__(self, db_url, bootstrap, tmp_path, name: str, group: str = "g1"):
        self.log = tmp_path / f"{name}-{time.monotonic_ns()}.log"
        cmd = [sys.executable, "-m", "ingestion", "--database-url", db_url, "consume-kafka", "--kafka-bootstrap",
               bootstrap, "--kafka-topic", TOPIC, "--group", group, "--name", name, "--spool-dir",
               str(tmp_path / f"spool-{name}"), "--alerts-every", "0", "--report-every", "1", "--max-delay", "0.2"]  # fmt: skip
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def assignments(self) -> list[str]:
        return [line.split("kafka: assigned ", 1)[1] for line in self.text().splitlines() if "kafka: assigned " in line]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(60) == 0, self.text()[-3000:]
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()


def wait_for(predicate, timeout: float, what: str, *members: Member) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for member in members:
            assert member.proc.poll() is None, f"{what}: a consumer exited\n{member.text()[-3000:]}"
        if time.monotonic() > deadline:
            logs = "\n".join(m.text()[-2000:] for m in members)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)  # polling an outside condition (rows, offsets), bounded by the deadline


def all_committed(bootstrap: str, group: str, expected: dict[int, int]):
    return lambda: committed(bootstrap, TOPIC, group) == expected


def test_kill_9_mid_stream_then_restart_stores_each_reading_once(kafka_broker, db_url, tmp_path):
    bootstrap = kafka_broker.bootstrap
    ensure_topic(bootstrap, TOPIC, 3)
    messages = stream(20_000)
    expected = sent_keys(messages)
    assert len(expected) == len(messages)  # one distinct reading per message: counts below are exact
    produce(bootstrap, messages[:12_000])
    member = Member(db_url, bootstrap, tmp_path, "killed")
    try:
        wait_for(lambda: count(db_url) > 0, 60, "first rows", member)
        member.kill()  # mid-stream: batches in the spool, offsets not all committed, no goodbye
        assert count(db_url) < len(expected)
        produce(bootstrap, messages[12_000:])
        member = Member(db_url, bootstrap, tmp_path, "killed")  # same spool, same group
        end = ends(bootstrap, len(messages))
        wait_for(all_committed(bootstrap, "g1", end), 120, "every offset committed", member)
    finally:
        member.stop()
    assert stored_keys(db_url) == expected
    totals = ledger(db_url)
    assert totals["stored"] == len(expected) and totals["quarantined"] == 0  # each reading stored once
    assert totals["received"] >= len(messages)  # at least once: what was read twice is counted twice...
    assert totals["received"] == totals["stored"] + totals["duplicates"]  # ...and absorbed as duplicates


def test_two_members_of_a_group_through_rebalances(kafka_broker, db_url, tmp_path):
    bootstrap = kafka_broker.bootstrap
    ensure_topic(bootstrap, TOPIC, 4)
    messages = stream(15_000, seed=5)
    expected = sent_keys(messages)
    produce(bootstrap, messages[:5_000])
    a = Member(db_url, bootstrap, tmp_path, "a")
    b = None
    try:
        wait_for(lambda: count(db_url) > 0, 60, "a consumes", a)
        b = Member(db_url, bootstrap, tmp_path, "b")  # joins: the group rebalances
        wait_for(lambda: b.assignments() and b.assignments()[-1] != "nothing", 60, "b assigned", a, b)
        produce(bootstrap, messages[5_000:10_000])
        wait_for(lambda: count(db_url) >= len(sent_keys(messages[:10_000])), 90, "both consume", a, b)
        a.stop()  # leaves: b takes every partition
        wait_for(lambda: b.assignments()[-1].count("[") == 4, 60, "b owns all", b)
        produce(bootstrap, messages[10_000:])
        wait_for(all_committed(bootstrap, "g1", ends(bootstrap, len(messages))), 120, "every offset committed", b)
    finally:
        a.stop()
        if b is not None:
            b.stop()
    after_join = [x for x in a.assignments()[1:] if x != "nothing"]
    assert after_join and all(x.count("[") < 4 for x in after_join)  # a shared the partitions with b
    assert stored_keys(db_url) == expected
    totals = ledger(db_url)
    assert totals["stored"] == len(expected) and totals["received"] == totals["stored"] + totals["duplicates"]
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT count(DISTINCT spool_id) FROM ingest_ledger WHERE stored > 0")
        assert cur.fetchone()[0] == 2  # both members stored readings


def test_replay_from_reset_offsets_stores_nothing_twice(kafka_broker, db_url, tmp_path):
    bootstrap = kafka_broker.bootstrap
    ensure_topic(bootstrap, TOPIC, 2)
    messages = stream(6_000, seed=9)
    expected = sent_keys(messages)
    produce(bootstrap, messages)
    end = ends(bootstrap, len(messages))
    member = Member(db_url, bootstrap, tmp_path, "replay")
    try:
        wait_for(all_committed(bootstrap, "g1", end), 120, "first pass committed", member)
    finally:
        member.stop()
    first = ledger(db_url)
    assert stored_keys(db_url) == expected and first["stored"] == len(expected)
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, time, value, ingested_at FROM sensor_data ORDER BY 1, 2, 3")
        rows_before = cur.fetchall()

    reset_group(bootstrap, TOPIC, "g1", dict.fromkeys(end, 0))  # the whole topic again
    assert committed(bootstrap, TOPIC, "g1") == dict.fromkeys(end, 0)
    member = Member(db_url, bootstrap, tmp_path, "replay")
    try:
        wait_for(lambda: ledger(db_url)["received"] >= 2 * len(messages), 120, "replay consumed", member)
        wait_for(all_committed(bootstrap, "g1", end), 60, "replay committed", member)
    finally:
        member.stop()
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, time, value, ingested_at FROM sensor_data ORDER BY 1, 2, 3")
        assert cur.fetchall() == rows_before  # not one row added or rewritten
    second = ledger(db_url)
    assert second["received"] == 2 * len(messages)
    assert second["stored"] == len(expected) and second["duplicates"] == len(messages)
