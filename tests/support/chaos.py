"""The chaos harness: real services the tests break on purpose, a sender that keeps its own count, and the
comparison of what was sent with what the database holds (issue 8, DESIGN.md §3 "Nothing stops, nothing is lost").

Pieces:
- `ChaosPostgres`: a dedicated throw-away cluster (it gets SIGKILLed and stopped, so it is never the shared one).
- `Broker`: tests/support/mosquitto.py's broker (the shipped deploy/mosquitto/mosquitto.conf, only port and
  persistence directory replaced), stopped and started again on the same port with the same persistence.
- `Consumer`: the real `python -m ingestion consume` process (spool on disk), killable, with its log captured
  through a pipe (so a file-size limit put on it for the disk-full scenario cannot break its logging).
The traffic (the sender, its independent count, and the comparison with the rows) is in chaos_traffic.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import psycopg2

from tests.support import mosquitto
from tests.support.postgres import TestCluster
from tests.support.services import wait_for

ROOT = Path(__file__).resolve().parents[2]


# --- PostgreSQL ---------------------------------------------------------------------------------------------


class ChaosPostgres(TestCluster):
    """A cluster of its own: SIGKILL (crash recovery on restart) and a clean stop."""

    def postmaster_pid(self) -> int:
        return int((self.server.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def kill9(self) -> None:
        pid = self.postmaster_pid()
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        # Backends outlive a killed postmaster for a moment and hold its shared memory, which would stop the
        # restart; a real crash (OOM killer, power loss) takes them all, so do the same.
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not any(_alive(p) for p in [pid, *children]), 30, "postgres processes gone")
        if Path(f"/proc/{pid}").exists():
            # A zombie nobody reaped yet (this sandbox's init is slow to reap) still answers kill(pid, 0), so
            # pg_ctl and the postmaster would take the stale lock file for a live server. The processes are dead
            # and hold no shared memory: the lock file is as stale as after a power cut.
            (self.server.data_dir / "postmaster.pid").unlink()
            for lock in self.server.data_dir.glob(".s.PGSQL.*.lock"):  # the socket's lock names the same pid
                lock.unlink()

    def restart(self) -> None:
        self.server.start()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def count_rows(url: str, table: str) -> int:
    assert table in ("sensor_data", "quarantine")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


# --- Mosquitto ----------------------------------------------------------------------------------------------


class Broker(mosquitto.Broker):
    """The tests' broker (the shipped configuration; stop/start keep its port and persistence database), plus a
    count of its starts and the consumer's session created before anything is sent."""

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.starts = 0

    def start(self) -> int:
        port = super().start()
        self.starts += 1
        return port

    def provision_session(self, client_id: str) -> None:
        """Create the consumer's persistent session (QoS 1 subscription) before anything is sent, as an operator
        would: from then on the broker queues every message for it, so the sender never races the consumer's
        start (a message published before a subscription exists is dropped by any broker)."""
        import paho.mqtt.client as mqtt

        from ingestion.transports.topics import SUBSCRIPTION

        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        client.on_connect = lambda c, *_a: c.subscribe(SUBSCRIPTION, qos=1)
        client.on_subscribe = lambda *_a: subscribed.set()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        try:
            assert subscribed.wait(30), "no SUBACK from the broker"
        finally:
            client.disconnect()
            client.loop_stop()


# --- the consumer process -----------------------------------------------------------------------------------


class Consumer:
    """`python -m ingestion consume` with a spool directory; restartable with the same identity and spool."""

    def __init__(self, db_url: str, broker: Broker, workdir: Path, *, client_id: str, spool_max_bytes: int):
        self.db_url, self.broker, self.client_id = db_url, broker, client_id
        self.spool_dir = workdir / "spool"
        self.spool_max_bytes = spool_max_bytes
        self.log_path = workdir / "consumer.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "ingestion", "--database-url", self.db_url, "consume",
            "--mqtt-host", "127.0.0.1", "--mqtt-port", str(self.broker.port), "--client-id", self.client_id,
            "--spool-dir", str(self.spool_dir), "--spool-max-bytes", str(self.spool_max_bytes),
            "--alerts-every", "0", "--report-every", "1",
        ]  # fmt: skip

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        self.starts += 1
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True, name="consumer-log").start()
        wait_for(self._ready, 60, "consumer spool ready")

    def _ready(self) -> bool:
        if self.exited() is not None:
            raise AssertionError(f"consumer exited ({self.exited()}): {self.log()[-3000:]}")
        return self.status() is not None

    def _pump(self, proc: subprocess.Popen) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"--- start {self.starts} pid {proc.pid}\n")
            for line in proc.stdout:
                log.write(line)
                log.flush()
                with self._lock:
                    self._lines.append(line)

    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_log(self, text: str, timeout: float = 60, *, after: int = 0) -> int:
        """Wait for a log line containing `text` (case-insensitive) past character `after`; return its end."""

        def found():
            index = self.log().lower().find(text.lower(), after)
            return index + len(text) if index >= 0 else None

        return wait_for(found, timeout, f"consumer log line {text!r}")

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def status(self) -> dict | None:
        """The spool as `python -m ingestion status --json` reports it (None before the spool exists)."""
        if not self.spool_dir.exists():
            return None
        out = _cli(["status", "--spool-dir", str(self.spool_dir), "--json"])
        return None if out is None else out["spool"]

    def spool_depth(self) -> int:
        status = self.status()
        assert status is not None, "status CLI failed"
        return status["depth"]


def reconcile(db_url: str, since: datetime) -> dict:
    out = _cli(["--database-url", db_url, "reconcile", "--since", since.isoformat(), "--json"])
    assert out is not None, "reconcile CLI failed"
    return out


def _cli(args: list[str]) -> dict | None:
    proc = subprocess.run(
        [sys.executable, "-m", "ingestion", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)
